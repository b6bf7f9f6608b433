/**
 * Every container image the platform runs, pinned to an exact release in one place so that an
 * upgrade is a one-line, reviewable change.
 */
export interface ImageSpec {
    /** Fully qualified repository, registry host included. */
    readonly repository: string;
    /** Exact release tag; never `latest`. */
    readonly tag: string;
}

export const images = {
    postgres: { repository: "docker.io/library/postgres", tag: "17.6-alpine3.22" },
    stepCa: { repository: "docker.io/smallstep/step-ca", tag: "0.30.2" },
    keycloak: { repository: "quay.io/keycloak/keycloak", tag: "26.7.3" },
    /** The provider's metrics broker, with the management plugin (its API keeps tenants' publishers). */
    rabbitmq: { repository: "docker.io/library/rabbitmq", tag: "4.3.4-management" },
    /** The monolithic update server (DDI and management API). */
    hawkbit: { repository: "docker.io/hawkbit/hawkbit-update-server", tag: "1.1.0" },
    /** ThingsBoard CE's node image, run as a monolith on the stack's PostgreSQL. */
    thingsboard: { repository: "docker.io/thingsboard/tb-node", tag: "4.3.1" },
    /** The provider's consumer of tenants' telemetry (RabbitMQ → InfluxDB). */
    telegraf: { repository: "docker.io/library/telegraf", tag: "1.39.2" },
    /** Time series of device metrics (tenants) and forwarded telemetry (provider); 2.x, not 3. */
    influxdb: { repository: "docker.io/library/influxdb", tag: "2.9.1" },
    /** Dashboards over InfluxDB, with Keycloak login. */
    grafana: { repository: "docker.io/grafana/grafana", tag: "13.2.0" },
    /** The IoT Bridge API, built from this repository's Dockerfile; the tag is package.json's version. */
    bridge: { repository: "ghcr.io/cdm-platform/bridge", tag: "0.1.0" },
    /** The WireGuard server and its peer-sync agent (the Dockerfile's `vpn` target); same version. */
    vpn: { repository: "ghcr.io/cdm-platform/vpn", tag: "0.1.0" },
} as const satisfies Record<string, ImageSpec>;

export type ImageName = keyof typeof images;

/**
 * The image reference to deploy. With a mirror, the upstream registry host is replaced by the
 * mirror and the repository path is kept (`docker.io/library/postgres` →
 * `mirror.example.com/library/postgres`).
 */
export function imageRef(image: ImageSpec, mirror?: string): string {
    const [, ...path] = image.repository.split("/");
    const repository = mirror ? [mirror, ...path].join("/") : image.repository;
    return `${repository}:${image.tag}`;
}

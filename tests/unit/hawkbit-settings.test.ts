/** hawkBit's settings as both generations receive them: the deployed 1.x image and the 0.3.0M7 test build. */
import { describe, expect, it } from "vitest";
import {
    dosExemptAddresses,
    hawkbitProperties,
    passwordSetting,
    storedPassword,
} from "../../components/hawkbit/settings";

const bridgePermissions =
    "READ_TARGET,READ_TARGET_SECURITY_TOKEN,CREATE_TARGET,UPDATE_TARGET,DELETE_TARGET,TENANT_CONFIGURATION";

/** What both generations get under the same names. */
const common = {
    "hawkbit.server.ddi.security.authentication.targettoken.enabled": true,
    "hawkbit.server.ddi.security.authentication.gatewaytoken.enabled": false,
    "hawkbit.server.ddi.security.authentication.anonymous.enabled": false,
    "hawkbit.server.download.anonymous.enabled": false,
    "hawkbit.controller.minPollingTime": "00:00:30",
    "hawkbit.server.security.dos.filter.enabled": true,
    "hawkbit.server.security.dos.filter.whitelist":
        "^(?:10\\.\\d{1,3}|172\\.(?:1[6-9]|2\\d|3[01])|192\\.168|100\\.(?:6[4-9]|[7-9]\\d|1[01]\\d|12[0-7])|127\\.\\d{1,3})\\.\\d{1,3}\\.\\d{1,3}$",
    "hawkbit.server.security.dos.filter.maxRead": 300,
    "hawkbit.server.security.dos.filter.maxWrite": 100,
    "hawkbit.server.security.dos.maxStatusEntriesPerAction": 1000,
    "hawkbit.server.security.dos.maxArtifactSize": 1073741824,
    "hawkbit.server.security.dos.maxArtifactStorage": 21474836480,
    "server.forward-headers-strategy": "native",
    "spring.datasource.hikari.data-source-properties.stringtype": "unspecified",
};

describe("hawkBit settings", () => {
    it("renders 1.x's properties: users by name in tenant DEFAULT, the artifact path under its 1.x name", () => {
        expect(
            hawkbitProperties("1.x", {
                publicOrigin: "https://ota.acme.cdm.example.com",
                artifactPath: "/app/artifactrepo",
            }),
        ).toEqual({
            ...common,
            "hawkbit.artifact.url.protocols.download-http.ref":
                "https://ota.acme.cdm.example.com/{tenant}/controller/v1/{controllerId}/softwaremodules/{softwareModuleId}/artifacts/{artifactFileName}",
            "org.eclipse.hawkbit.artifact.fs.path": "/app/artifactrepo",
            "org.eclipse.hawkbit.repository.file.path": "/app/artifactrepo",
            "hawkbit.security.user.admin.tenant": "DEFAULT",
            "hawkbit.security.user.admin.roles": "TENANT_ADMIN",
            "hawkbit.security.user.bridge.tenant": "DEFAULT",
            "hawkbit.security.user.bridge.permissions": bridgePermissions,
        });
    });

    it("renders 0.3's properties: the same settings, users as a list, the artifact path under its 0.x name", () => {
        expect(
            hawkbitProperties("0.3", {
                publicOrigin: "http://127.0.0.1:18700/",
                artifactPath: "/tmp/hawkbit-1/artifactrepo",
            }),
        ).toEqual({
            ...common,
            "hawkbit.artifact.url.protocols.download-http.ref":
                "http://127.0.0.1:18700/{tenant}/controller/v1/{controllerId}/softwaremodules/{softwareModuleId}/artifacts/{artifactFileName}",
            "org.eclipse.hawkbit.repository.file.path": "/tmp/hawkbit-1/artifactrepo",
            "hawkbit.server.im.users[0].username": "admin",
            "hawkbit.server.im.users[0].permissions": "ALL",
            "hawkbit.server.im.users[1].username": "bridge",
            "hawkbit.server.im.users[1].permissions": bridgePermissions,
        });
    });

    it("never puts a password among the properties, and names where each one goes", () => {
        for (const generation of ["1.x", "0.3"] as const) {
            const keys = Object.keys(
                hawkbitProperties(generation, { publicOrigin: "https://x", artifactPath: "/a" }),
            );
            expect(keys.filter((k) => /password/i.test(k))).toEqual([]);
        }
        expect(passwordSetting("1.x", "admin")).toEqual({ env: "HAWKBIT_SECURITY_USER_ADMIN_PASSWORD" });
        expect(passwordSetting("1.x", "bridge")).toEqual({ env: "HAWKBIT_SECURITY_USER_BRIDGE_PASSWORD" });
        expect(passwordSetting("0.3", "admin")).toEqual({ property: "hawkbit.server.im.users[0].password" });
        expect(passwordSetting("0.3", "bridge")).toEqual({ property: "hawkbit.server.im.users[1].password" });
        expect(storedPassword("s3cret")).toBe("{noop}s3cret");
    });

    it("exempts in-cluster and loopback addresses from the DoS filter, and no public address", () => {
        // Java's Matcher.find and JavaScript's RegExp.test agree on this pattern.
        const exempt = new RegExp(dosExemptAddresses);
        for (const address of [
            "10.244.1.17",
            "172.16.0.5",
            "172.31.255.255",
            "192.168.3.4",
            "100.64.0.1",
            "100.127.9.9",
            "127.0.0.1",
        ]) {
            expect(exempt.test(address), address).toBe(true);
        }
        for (const address of [
            "110.10.5.6",
            "8.8.8.8",
            "172.15.0.1",
            "172.32.0.1",
            "192.169.0.1",
            "100.63.0.1",
            "100.128.0.1",
            "210.10.1.2",
            "10.1.2.3.4",
        ]) {
            expect(exempt.test(address), address).toBe(false);
        }
    });
});

/**
 * Where a device's ttyd is and how to log in to it, from the tenant bridge
 * (`GET /devices/{id}/wireguard`), reused for a few seconds so that a burst of sessions (or
 * reconnects) costs one lookup. A device the bridge does not know is refused; a bridge that
 * does not answer makes the session fail with 502, never with a stale guess past the cache.
 */
import { TerminalCredential } from "../bridge/terminal-credential";
import { BridgeEndpoint, bridgeGet } from "../shared/bridge-client";
import { Refusal } from "./access";

/** A device's ttyd endpoint over the VPN. */
export interface DeviceTerminal {
    readonly address: string;
    readonly port: number;
    readonly credential: TerminalCredential;
}

interface LookupBody {
    readonly address?: string;
    readonly terminal?: { readonly port?: number; readonly username?: string; readonly password?: string };
}

export class DeviceDirectory {
    private readonly cache = new Map<string, { at: number; device: DeviceTerminal }>();

    constructor(
        private readonly bridge: BridgeEndpoint,
        private readonly cacheMs: number,
        private readonly now: () => number = Date.now,
    ) {}

    /** The device's ttyd endpoint; refuses (404, 502) when the bridge does not give one. */
    async lookup(deviceId: string): Promise<DeviceTerminal> {
        const cached = this.cache.get(deviceId);
        if (cached && this.now() - cached.at < this.cacheMs) return cached.device;
        let answer;
        try {
            answer = await bridgeGet<LookupBody>(
                this.bridge,
                `/devices/${encodeURIComponent(deviceId)}/wireguard`,
                {
                    timeoutMs: 5000,
                },
            );
        } catch {
            throw new Refusal(
                502,
                "bridge_unavailable",
                "the device directory (tenant bridge) did not answer",
            );
        }
        if (answer.status === 404) {
            this.cache.delete(deviceId);
            throw new Refusal(404, "device_not_found", `device ${deviceId} is not enrolled in this tenant`);
        }
        const body = answer.body;
        const terminal = body?.terminal;
        if (
            answer.status !== 200 ||
            !body?.address ||
            !terminal?.port ||
            !terminal.username ||
            !terminal.password
        ) {
            throw new Refusal(502, "bridge_unavailable", `the device directory answered ${answer.status}`);
        }
        const device: DeviceTerminal = {
            address: body.address,
            port: terminal.port,
            credential: { username: terminal.username, password: terminal.password },
        };
        this.cache.set(deviceId, { at: this.now(), device });
        return device;
    }
}

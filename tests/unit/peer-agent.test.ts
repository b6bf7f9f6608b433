/** The peer-sync agent's plans and configuration (the live interface is the integration tier's). */
import { expect, it } from "vitest";
import { wireguardFirewall } from "../../components/wireguard/firewall";
import { changeOperations } from "../../runtime/peer-agent/agent";
import { readPeerAgentConfig } from "../../runtime/peer-agent/main";
import { planResync, wgSetCalls } from "../../runtime/peer-agent/wireguard";
import { EnvError } from "../../runtime/shared/env";

const key = (c: string) => `${c.repeat(43)}=`;

it("resyncs by removing strays, re-setting moved peers and adding missing ones, leaving the rest alone", () => {
    const current = new Map([
        [key("A"), "10.8.0.2/32"],
        [key("B"), "10.8.0.9/32"],
        [key("C"), "10.8.0.4/32"],
    ]);
    expect(
        planResync(current, [
            { deviceId: "a", publicKey: key("A"), address: "10.8.0.2" },
            { deviceId: "b", publicKey: key("B"), address: "10.8.0.3" },
            { deviceId: "d", publicKey: key("D"), address: "10.8.0.5" },
        ]),
    ).toEqual([
        { op: "remove", publicKey: key("C") },
        { op: "set", publicKey: key("B"), address: "10.8.0.3" },
        { op: "set", publicKey: key("D"), address: "10.8.0.5" },
    ]);
    expect(planResync(current, [])).toEqual(
        [key("A"), key("B"), key("C")].map((publicKey) => ({ op: "remove", publicKey })),
    );
});

it("applies a page of changes in order", () => {
    expect(
        changeOperations({
            kind: "changes",
            revision: 7,
            changes: [
                { revision: 6, op: "remove", deviceId: "a", publicKey: key("A"), address: "10.8.0.2" },
                { revision: 7, op: "add", deviceId: "a", publicKey: key("E"), address: "10.8.0.2" },
            ],
        }),
    ).toEqual([
        { op: "remove", publicKey: key("A") },
        { op: "set", publicKey: key("E"), address: "10.8.0.2" },
    ]);
});

it("applies operations in order, a bounded number of peers per wg set", () => {
    const operations = [
        { op: "remove", publicKey: key("A") },
        { op: "set", publicKey: key("B"), address: "10.8.0.3" },
        { op: "remove", publicKey: key("C") },
        { op: "set", publicKey: key("C"), address: "10.8.0.4" },
        { op: "set", publicKey: key("D"), address: "10.8.0.2" },
    ] as const;
    expect(wgSetCalls("wg0", operations, 2)).toEqual([
        ["set", "wg0", "peer", key("A"), "remove", "peer", key("B"), "allowed-ips", "10.8.0.3/32"],
        ["set", "wg0", "peer", key("C"), "remove", "peer", key("C"), "allowed-ips", "10.8.0.4/32"],
        ["set", "wg0", "peer", key("D"), "allowed-ips", "10.8.0.2/32"],
    ]);
    expect(wgSetCalls("wg0", [])).toEqual([]);
    const many = Array.from({ length: 2500 }, () => ({ op: "remove", publicKey: key("E") }) as const);
    expect(wgSetCalls("wg0", many).map((args) => args.length)).toEqual([2 + 3000, 2 + 3000, 2 + 1500]);
});

it("reads its configuration and names every bad variable", () => {
    expect(() =>
        readPeerAgentConfig({
            BRIDGE_URL: "http://bridge",
            WG_INTERFACE: "a-very-long-interface",
            PEER_AGENT_WAIT_SECONDS: "90",
        }),
    ).toThrow(EnvError);
    try {
        readPeerAgentConfig({
            BRIDGE_URL: "http://bridge",
            WG_INTERFACE: "a-very-long-interface",
            PEER_AGENT_WAIT_SECONDS: "90",
        });
    } catch (error) {
        expect((error as EnvError).problems).toEqual([
            "BRIDGE_URL must be a https URL, not http:",
            "PEER_AGENT_TOKEN is required: the peer agent's credential at the bridge",
            "BRIDGE_CA_FILE is required: the CA of the bridge's certificate (PEM)",
            'PEER_AGENT_WAIT_SECONDS must be an integer in 1..55, not "90"',
            "WG_INTERFACE must be an interface name (15 characters at most)",
        ]);
    }
});

it("filters the VPN: no forwarding, devices answer only, only the proxy's uid reaches ttyd, the pod may ping", () => {
    expect(wireguardFirewall("wg0", 7681, 10001).split("\n")).toEqual([
        "*filter",
        ":INPUT ACCEPT [0:0]",
        ":FORWARD DROP [0:0]",
        ":OUTPUT ACCEPT [0:0]",
        "-A FORWARD -i wg0 -j DROP",
        "-A FORWARD -o wg0 -j DROP",
        "-A INPUT -i wg0 -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT",
        "-A INPUT -i wg0 -j DROP",
        "-A OUTPUT -o wg0 -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT",
        "-A OUTPUT -o wg0 -p tcp --dport 7681 -m owner --uid-owner 10001 -m conntrack --ctstate NEW -j ACCEPT",
        "-A OUTPUT -o wg0 -p icmp --icmp-type echo-request -m conntrack --ctstate NEW -j ACCEPT",
        "-A OUTPUT -o wg0 -j DROP",
        "COMMIT",
        "",
    ]);
});

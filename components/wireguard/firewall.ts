/**
 * The WireGuard server's packet filter, as `iptables-restore` input (the container applies it
 * at start, in its pod's network namespace). Devices reach nothing over the VPN, not each other
 * and not the pod; the pod (where the terminal proxy runs) reaches devices only on ttyd's port.
 */

/** The rules for interface `iface`, letting the pod reach devices on `terminalPort` only. */
export function wireguardFirewall(iface: string, terminalPort: number): string {
    return [
        "*filter",
        ":INPUT ACCEPT [0:0]",
        ":FORWARD DROP [0:0]",
        ":OUTPUT ACCEPT [0:0]",
        // Nothing is routed between peers: device-to-device traffic is dropped here.
        `-A FORWARD -i ${iface} -j DROP`,
        `-A FORWARD -o ${iface} -j DROP`,
        // Devices may only answer what the pod opened.
        `-A INPUT -i ${iface} -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT`,
        `-A INPUT -i ${iface} -j DROP`,
        // The pod opens connections to devices' ttyd only.
        `-A OUTPUT -o ${iface} -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT`,
        `-A OUTPUT -o ${iface} -p tcp --dport ${terminalPort} -m conntrack --ctstate NEW -j ACCEPT`,
        `-A OUTPUT -o ${iface} -j DROP`,
        "COMMIT",
        "",
    ].join("\n");
}

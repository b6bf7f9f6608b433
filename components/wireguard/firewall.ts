/**
 * The WireGuard server's packet filter, as `iptables-restore` input (the container applies it
 * at start, in its pod's network namespace). Devices reach nothing over the VPN, not each other
 * and not the pod; the pod (where the terminal proxy runs) reaches devices only on ttyd's port
 * (and may ping them).
 */

/**
 * The rules for interface `iface`, letting the terminal proxy (the pod's processes of uid
 * `proxyUid`; the pod's other containers run as root) reach devices on `terminalPort` only.
 */
export function wireguardFirewall(iface: string, terminalPort: number, proxyUid: number): string {
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
        // Only the terminal proxy opens connections, to devices' ttyd only,
        `-A OUTPUT -o ${iface} -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT`,
        `-A OUTPUT -o ${iface} -p tcp --dport ${terminalPort} -m owner --uid-owner ${proxyUid} -m conntrack --ctstate NEW -j ACCEPT`,
        // and the pod may ping them (is the tunnel up?); devices cannot ping the pod or each other.
        `-A OUTPUT -o ${iface} -p icmp --icmp-type echo-request -m conntrack --ctstate NEW -j ACCEPT`,
        `-A OUTPUT -o ${iface} -j DROP`,
        "COMMIT",
        "",
    ].join("\n");
}

/**
 * `npm run bench -- [--quick] [--json FILE]`: every benchmark, each a ratio against a baseline
 * measured in the same run. `--quick` finishes within a minute; it skips scenarios whose real
 * peers are not built yet (run `npm run test:integration` or scripts/peers/*.sh install first).
 */
import { writeFileSync } from "node:fs";
import { addressAllocation } from "./address-allocation";
import { enrollmentThroughput } from "./enrollment";
import { fleetSimulator } from "./fleet-simulator";
import { Scenario } from "./scenario";
import { stackEvaluation } from "./stack-evaluation";
import { stepBinariesCached, stepCaSigning } from "./step-ca-signing";
import { rabbitmqInstalled, telemetryAmqp } from "./telemetry-amqp";
import { mosquittoInstalled, telemetryMqtt } from "./telemetry-mqtt";
import { terminalProxy } from "./terminal-proxy";
import { wireguardPeers, wireguardUnavailable } from "./wireguard-peers";

async function main(): Promise<void> {
    const argv = process.argv.slice(2);
    const quick = argv.includes("--quick");
    const jsonIndex = argv.indexOf("--json");
    const jsonFile = jsonIndex >= 0 ? argv[jsonIndex + 1] : undefined;
    if (jsonIndex >= 0 && !jsonFile) throw new Error("--json needs a file name");
    const scenarios: Scenario[] = [
        ...(await stackEvaluation(quick)),
        ...(await addressAllocation(quick)),
        ...(await terminalProxy(quick)),
    ];
    if (!quick || stepBinariesCached()) {
        scenarios.push(...(await stepCaSigning(quick)), ...(await enrollmentThroughput(quick)));
    } else {
        console.log(
            "step-ca signing and enrollment: skipped in --quick (step-ca not built yet; run scripts/peers/step-ca.sh install)",
        );
    }
    if (!quick || rabbitmqInstalled()) {
        scenarios.push(...(await telemetryAmqp(quick)));
    } else {
        console.log(
            "telemetry via RabbitMQ: skipped in --quick (not installed; run scripts/peers/rabbitmq.sh start)",
        );
    }
    if (!quick || mosquittoInstalled()) {
        scenarios.push(...(await telemetryMqtt(quick)));
    } else {
        console.log(
            "telemetry via MQTT: skipped in --quick (not installed; run scripts/peers/mosquitto.sh install)",
        );
    }
    if (!quick || (stepBinariesCached() && mosquittoInstalled())) {
        scenarios.push(...(await fleetSimulator(quick)));
    } else {
        console.log(
            "fleet simulator: skipped in --quick (step-ca or Mosquitto not installed; run scripts/peers/step-ca.sh install and scripts/peers/mosquitto.sh install)",
        );
    }
    const noWireguard = wireguardUnavailable(quick);
    if (noWireguard) console.log(`wireguard peers: skipped (${noWireguard})`);
    else scenarios.push(...(await wireguardPeers(quick)));
    for (const s of scenarios) {
        console.log(
            `${s.name.padEnd(34)} ${String(s.value).padStart(10)} ${s.unit}  baseline ${s.baseline}  ratio ${s.ratio}`,
        );
    }
    if (jsonFile) {
        writeFileSync(jsonFile, `${JSON.stringify({ scenarios }, null, 2)}\n`);
        console.log(`wrote ${jsonFile}`);
    }
}

main().catch((error: unknown) => {
    console.error(`bench: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
});

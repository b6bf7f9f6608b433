import { describe, expect, it } from "vitest";
import {
    formatIpv4,
    isDnsLabel,
    isDnsName,
    isQualifiedStackName,
    isQuantity,
    parseIpv4,
    parseIpv4Cidr,
} from "../../components/config/validate";

describe("DNS names", () => {
    it.each([
        ["acme", true],
        ["a", true],
        ["acme-2", true],
        ["Acme", false],
        ["-acme", false],
        ["acme-", false],
        ["ac_me", false],
        ["", false],
        ["a".repeat(63), true],
        ["a".repeat(64), false],
    ])("isDnsLabel(%j) is %s", (value, expected) => {
        expect(isDnsLabel(value)).toBe(expected);
    });

    it("applies a shorter limit when asked", () => {
        expect(isDnsLabel("a".repeat(40), 40)).toBe(true);
        expect(isDnsLabel("a".repeat(41), 40)).toBe(false);
    });

    it.each([
        ["cdm.example.com", true],
        ["example.com", true],
        ["localhost", false],
        ["CDM.example.com", false],
        ["cdm..example.com", false],
    ])("isDnsName(%j) is %s", (value, expected) => {
        expect(isDnsName(value)).toBe(expected);
    });
});

describe("IPv4", () => {
    it("parses and formats addresses", () => {
        expect(parseIpv4("10.8.0.1")).toBe(0x0a080001);
        expect(formatIpv4(0x0a080001)).toBe("10.8.0.1");
        expect(parseIpv4("255.255.255.255")).toBe(0xffffffff);
        expect(parseIpv4("256.0.0.1")).toBeUndefined();
        expect(parseIpv4("10.8.0")).toBeUndefined();
        expect(parseIpv4("010.8.0.1")).toBeUndefined();
    });

    it("parses a CIDR", () => {
        expect(parseIpv4Cidr("10.8.0.0/16")).toEqual({ network: "10.8.0.0", prefixLength: 16 });
        expect(parseIpv4Cidr("0.0.0.0/0")).toEqual({ network: "0.0.0.0", prefixLength: 0 });
    });

    it.each([
        ["10.8.0.0", '"10.8.0.0" is not an IPv4 CIDR such as 10.8.0.0/16'],
        ["10.8.0.0/33", '"10.8.0.0/33" is not an IPv4 CIDR such as 10.8.0.0/16'],
        ["10.300.0.0/16", '"10.300.0.0/16" is not an IPv4 CIDR such as 10.8.0.0/16'],
        ["10.8.0.1/16", '"10.8.0.1/16" has host bits set; the network is 10.8.0.0/16'],
    ])("refuses %j", (value, message) => {
        expect(parseIpv4Cidr(value)).toBe(message);
    });

    it("enforces the prefix range", () => {
        expect(parseIpv4Cidr("10.0.0.0/31", 8, 30)).toBe('prefix /31 of "10.0.0.0/31" is outside /8../30');
        expect(parseIpv4Cidr("10.0.0.0/7", 8, 30)).toBe('prefix /7 of "10.0.0.0/7" is outside /8../30');
    });
});

describe("quantities and stack names", () => {
    it.each([
        ["500m", true],
        ["2", true],
        ["10Gi", true],
        ["1.5", true],
        ["10GB", false],
        ["-1", false],
        ["", false],
    ])("isQuantity(%j) is %s", (value, expected) => {
        expect(isQuantity(value)).toBe(expected);
    });

    it.each([
        ["organization/cdm/provider", true],
        ["acme-corp/cdm/prod.provider", true],
        ["provider", false],
        ["cdm/provider", false],
        ["a/b/c/d", false],
    ])("isQualifiedStackName(%j) is %s", (value, expected) => {
        expect(isQualifiedStackName(value)).toBe(expected);
    });
});

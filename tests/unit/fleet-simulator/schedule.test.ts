import { describe, expect, it } from "vitest";
import { deviceSchedule, dueAt, nextSlot, slotsBefore } from "../../../tools/fleet-simulator/schedule";

describe("telemetry scheduling", () => {
    it("spreads a fleet's phases evenly over one period", () => {
        const phases = [0, 1, 2, 3].map((i) => deviceSchedule(1000, 2, i, 4).phaseMs);
        expect(phases).toEqual([0, 125, 250, 375]);
        const s = deviceSchedule(1000, 2, 1, 4);
        expect([0, 1, 2].map((k) => dueAt(s, k))).toEqual([1125, 1625, 2125]);
    });

    it("counts the slots due before the end exactly", () => {
        const s = deviceSchedule(0, 10, 0, 1); // every 100 ms from 0
        expect(slotsBefore(s, 0)).toBe(0);
        expect(slotsBefore(s, 1)).toBe(1);
        expect(slotsBefore(s, 100)).toBe(1);
        expect(slotsBefore(s, 101)).toBe(2);
        expect(slotsBefore(s, 1000)).toBe(10);
        // 20 devices at 5 msg/s for 3 s: 15 each, 300 in all.
        const total = Array.from({ length: 20 }, (_, i) => slotsBefore(deviceSchedule(0, 5, i, 20), 3000));
        expect(total.reduce((a, b) => a + b)).toBe(300);
    });

    it("sends a late slot while less than a period overdue, and skips what a stall missed", () => {
        const s = deviceSchedule(0, 10, 0, 1);
        expect(nextSlot(s, 3, 250)).toEqual({ slot: 3, missed: 0 });
        expect(nextSlot(s, 3, 399)).toEqual({ slot: 3, missed: 0 });
        expect(nextSlot(s, 3, 400)).toEqual({ slot: 4, missed: 1 });
        expect(nextSlot(s, 3, 1050)).toEqual({ slot: 10, missed: 7 });
    });

    it("needs a positive rate", () => {
        expect(() => deviceSchedule(0, 0, 0, 1)).toThrow("positive rate");
    });
});

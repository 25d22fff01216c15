"""The drum layer: drum patterns, the synthesized drum kits and the drum renderers of the synthesizer."""

from __future__ import annotations

from typing import Optional

import numpy as np

from pipeline.datasets.demo.dsp import _add_at, _highpass, _lowpass, _sin_cycles, _white
from pipeline.datasets.demo.synth_core import _SynthCore

# 16 steps (16th notes) per 4/4 bar; longer strings span several bars. X accent, x normal, g ghost.
DRUM_PATTERNS: dict[str, dict[str, str]] = {
    "four_on_floor": {  # house/techno: kick every beat, open hat on the off-beat, clap 2 and 4
        "kick": "X...x...X...x...",
        "clap": "....x.......x...",
        "ohat": "..x...x...x...x.",
        "hat": "g.g.g.g.g.g.g.g.",
    },
    "breakbeat": {  # syncopated "amen"-like break
        "kick": "X.x.......x.....X.x.......xx....",
        "snare": "....X..g.g..X..g....X..g.g..X...",
        "hat": "x.x.x.x.x.x.x.x.",
    },
    "boom_bap": {  # kick on 1 and the "a" of 2, heavy snare on 2 and 4, swung hats
        "kick": "X......x..x.....",
        "snare": "....X.......X...",
        "hat": "x.x.x.x.x.x.x.x.",
    },
    "trap": {  # half-time: clap on 3, sparse kicks, 16th hats with rolls
        "kick": "X.......x.....x.x......x........",
        "clap": "........X...............X.......",
        "hat": "xgxgxgxgxgxgxgxg",
    },
    "rock_8ths": {  # driving 8ths, crash every 8 bars
        "kick": "X.....x.x.......",
        "snare": "....X.......X...",
        "hat": "X.x.X.x.X.x.X.x.",
        "crash": "X" + "." * 127,
    },
    "pop_backbeat": {
        "kick": "X.......x.x.....",
        "snare": "....x.......x...",
        "clap": "....x.......x...",
        "hat": "x.x.x.x.x.x.x.x.",
        "shaker": "gggggggggggggggg",
        "crash": "x" + "." * 127,
    },
    "brush": {  # jazz: ride "ding ding-a", feathered kick, brushed snare
        "kick": "g.......g.......",
        "snare": "....g.......g...",
        "ride": "x...x.x.x...x.x.",
    },
    "stomp": {  # folk stomp-clap
        "kick": "X.......X.......",
        "clap": "....x.......x...",
        "shaker": "x.x.x.x.x.x.x.x.",
    },
    "tabla": {  # keherwa-like bols: dha (bass+ring), ge (bass), na/tin/ti (ring), ka (slap)
        "dha": "X.......x.....x.",
        "ge": "...x......x.....",
        "na": "..x.x...x.x.x...",
        "tin": "......x.........",
        "ti": ".x.......x.x...x",
        "ka": ".....x.......x..",
    },
    "maqsum": {  # frame drum: dum tek - tek dum - tek -
        "dum": "X.......x.......",
        "tek": "..x...x.....x...",
        "ka": "....g.....g...g.",
    },
}
_CYMBALS = {"hat", "ohat", "ride", "shaker", "crash"}
_VELOCITY = {"X": 1.0, "x": 0.75, "g": 0.32}
# Which voices each pattern's fill may add on empty steps, and with which probability per step.
_FILLS = {"tabla": ("ti", 0.18), "maqsum": ("ka", 0.15), "rock_8ths": ("snare", 0.02), "breakbeat": ("snare", 0.04)}
_KIT_OF_PATTERN = {
    "four_on_floor": "machine",
    "breakbeat": "break",
    "boom_bap": "dusty",
    "trap": "trap",
    "rock_8ths": "acoustic",
    "pop_backbeat": "pop",
    "brush": "brush",
    "stomp": "stomp",
    "tabla": "tabla",
    "maqsum": "frame",
}


class _Drums(_SynthCore):
    """The synthesizer's drums and cymbals (regular patterns, or irregular hits for Experimental)."""

    # --- drums ----------------------------------------------------------------------------------
    def _noise(self, n: int, r: np.random.Generator) -> np.ndarray:
        return _white(r, n)

    def _kit(self, kit: str) -> dict[str, np.ndarray]:
        r = self.timbre("kit:" + kit)
        sr = self.sr

        def kick(f_hi, f_lo, sweep, decay, click):
            n = int(sr * min(5 * decay, 1.2))
            t = self.t(n)
            f = f_lo + (f_hi - f_lo) * np.exp(-t / sweep)
            ph = np.cumsum(f.astype(np.float64)) / sr
            y = _sin_cycles(ph) * np.exp(-t / decay)
            y += click * self._noise(n, r) * np.exp(-t / 0.003)
            return y * np.minimum(1.0, t / 0.001)

        def snare(tone_hz, noise_decay, tone_mix, bright):
            n = int(sr * 5 * noise_decay)
            t = self.t(n)
            noise = self._noise(n, r)
            noise = _lowpass(noise, bright, sr, 1)
            noise = _highpass(noise, 900, sr)
            y = noise * np.exp(-t / noise_decay) * 1.6 + tone_mix * _sin_cycles(tone_hz * t) * np.exp(-t / 0.05)
            return y

        def clap():
            n = int(sr * 0.35)
            t = self.t(n)
            noise = _highpass(_lowpass(self._noise(n, r), 3000, sr, 1), 700, sr)
            env = np.exp(-t / 0.08)
            for k in range(3):
                t0 = 0.011 * k
                env += np.where(t >= t0, np.exp(-(t - t0) / 0.006), 0.0).astype(np.float32) * 1.5
            return noise * env * 0.9

        def hat(decay, cutoff=7000):
            n = int(sr * min(6 * decay, 1.5))
            t = self.t(n)
            y = _highpass(self._noise(n, r), cutoff, sr)
            return y * np.exp(-t / decay) * 1.4

        def metal(decay, base):
            n = int(sr * min(5 * decay, 2.0))
            t = self.t(n)
            y = np.zeros(n, np.float32)
            for ratio in (1.0, 1.48, 1.91, 2.53, 3.17, 4.11):
                y += self.osc("square", base * ratio, n, phase=ratio % 1)
            y = _highpass(y, 3000, sr) / 6 + 0.3 * _highpass(self._noise(n, r), 6000, sr)
            return y * np.exp(-t / decay)

        def membrane(f0, decay, partials, bend, noise_amt):
            n = int(sr * min(5 * decay, 1.5))
            t = self.t(n)
            f = f0 * (1.0 + bend * (1 - np.exp(-t / 0.08)))
            ph = np.cumsum(f.astype(np.float64)) / sr
            y = np.zeros(n, np.float32)
            for k, amp in enumerate(partials, start=1):
                y += np.float32(amp) * _sin_cycles(k * ph) * np.exp(-t * k**0.5 / decay)
            y += noise_amt * self._noise(n, r) * np.exp(-t / 0.004)
            return y * np.minimum(1.0, t / 0.0015)

        u = r.uniform
        if kit == "tabla":
            na_f = u(330, 520)
            ring = (1.0, 0.6, 0.45, 0.25, 0.15)
            ge = membrane(u(80, 110), u(0.3, 0.5), (1.0, 0.2), u(0.1, 0.25), 0.2)
            na = membrane(na_f, u(0.2, 0.35), ring, -0.02, 0.4)
            return {
                "ge": ge,
                "na": na,
                "dha": ge[: len(na)] * 0.8 + na if len(ge) >= len(na) else na,
                "tin": membrane(na_f * 0.89, u(0.1, 0.18), ring, -0.01, 0.3),
                "ti": membrane(na_f * 1.05, 0.04, ring, 0.0, 0.5),
                "ka": _lowpass(self._noise(int(0.08 * sr), r), 1500, sr) * np.exp(-self.t(int(0.08 * sr)) / 0.02) * 2,
            }
        if kit == "frame":
            dum = membrane(u(65, 95), u(0.2, 0.35), (1.0, 0.3, 0.1), -0.05, 0.3)
            tek = membrane(u(900, 1600), 0.04, (1.0, 0.5), 0.0, 1.2)
            return {"dum": dum, "tek": tek, "ka": tek * 0.5}
        presets = {
            # kick(f_hi, f_lo, sweep, decay, click), snare(tone, noise_decay, tone_mix, brightness)
            "machine": (kick(u(130, 180), u(42, 52), u(0.02, 0.05), u(0.25, 0.45), 0.1), None),
            "trap": (kick(u(100, 140), u(40, 50), u(0.03, 0.06), u(0.4, 0.7), 0.1), None),
            "acoustic": (
                kick(u(90, 130), u(55, 70), u(0.01, 0.03), u(0.12, 0.22), u(0.3, 0.6)),
                snare(u(170, 230), u(0.1, 0.18), 0.6, u(7000, 12000)),
            ),
            "pop": (
                kick(u(100, 150), u(48, 60), u(0.02, 0.04), u(0.15, 0.28), 0.2),
                snare(u(180, 240), u(0.08, 0.14), 0.5, u(6000, 10000)),
            ),
            "break": (
                kick(u(90, 130), u(50, 65), u(0.015, 0.03), u(0.12, 0.2), 0.4),
                snare(u(180, 230), u(0.08, 0.14), 0.5, u(4000, 8000)),
            ),
            "dusty": (
                kick(u(80, 120), u(45, 58), u(0.02, 0.04), u(0.2, 0.35), 0.1),
                snare(u(160, 210), u(0.12, 0.2), 0.8, u(3000, 6000)),
            ),
            "brush": (kick(u(80, 110), u(50, 60), 0.02, 0.15, 0.05), snare(200, u(0.15, 0.3), 0.1, 5000)),
            "stomp": (kick(u(70, 100), u(45, 55), 0.03, u(0.15, 0.25), 0.5), None),
        }
        k, s = presets.get(kit, presets["pop"])
        kit_d = {"kick": k, "snare": s if s is not None else snare(200, 0.12, 0.5, 8000), "clap": clap()}
        kit_d["hat"] = hat(u(0.02, 0.05), 6000 if kit in ("dusty", "break") else 8000)
        kit_d["ohat"] = hat(u(0.15, 0.3))
        shaker = hat(0.05, 5000)
        kit_d["shaker"] = _lowpass(shaker, 9000, sr) * np.minimum(1.0, self.t(len(shaker)) / 0.015)
        kit_d["crash"] = hat(u(0.8, 1.5), 4000) * 0.8
        kit_d["ride"] = metal(u(0.4, 0.8), u(380, 520)) * 0.8
        if kit == "brush":
            kit_d["snare"] = _lowpass(kit_d["snare"], 5000, sr) * 0.6
        return kit_d

    def render_drums(self, name: str) -> tuple[Optional[np.ndarray], Optional[np.ndarray]]:
        if name == "none":
            return None, None
        if name == "irregular":
            return self._irregular_drums(), None
        pattern = DRUM_PATTERNS[name]
        kit = self._kit(_KIT_OF_PATTERN[name])
        drums = np.zeros(self.n, np.float32)
        cym = np.zeros(self.n, np.float32)
        fill_voice, fill_p = _FILLS.get(name, (None, 0.0))
        machine = name in ("four_on_floor", "trap")
        dropped = set()
        for phrase in range(self.step_lo // 64, self.step_hi // 64 + 1):
            if self.rng.random() < self.style.dropout_prob:
                dropped.add(phrase)
        for step in self.steps():
            in_bar = step % 16
            hits: list[tuple[str, float]] = []
            for voice, patt in pattern.items():
                ch = patt[step % len(patt)]
                if ch != ".":
                    hits.append((voice, _VELOCITY[ch]))
            if fill_voice and not hits and self.rng.random() < fill_p:
                hits.append((fill_voice, 0.4))
            if name == "trap" and in_bar % 4 == 2 and self.rng.random() < 0.12:  # hi-hat roll
                for k in range(1, 4):
                    _add_at(cym, kit["hat"], self.at(step + k / 3.0, False), 0.5)
            for voice, vel in hits:
                if voice in ("kick", "snare", "clap", "dum") and (step // 64) in dropped:
                    continue
                if not machine and self.rng.random() < 0.03:  # a missed ghost note now and then
                    continue
                vel = vel * (1.0 if machine else float(self.rng.uniform(0.85, 1.1)))
                if voice == "kick":
                    self.kick_steps.append(step)
                target = cym if voice in _CYMBALS else drums
                _add_at(target, kit[voice], self.at(step, not machine), vel)
        return drums, cym

    def _irregular_drums(self) -> np.ndarray:
        """Experimental: hits at Poisson times, random voices and levels, ratchet bursts."""
        buf = np.zeros(self.n, np.float32)
        kit = self._kit("break")
        kit["metal"] = _lowpass(kit["ride"], 8000, self.sr)
        voices = ["kick", "snare", "hat", "metal", "clap"]
        rate = float(self.rng.uniform(1.5, 5.0))
        t = float(self.rng.exponential(1 / rate))
        dur = self.n / self.sr
        while t < dur:
            v = voices[int(self.rng.integers(len(voices)))]
            gain = float(self.rng.uniform(0.2, 1.0))
            if self.rng.random() < 0.12:
                gap = float(self.rng.uniform(0.025, 0.09))
                for k in range(int(self.rng.integers(4, 12))):
                    _add_at(buf, kit[v], int((t + k * gap) * self.sr), gain * 0.8**k)
            else:
                _add_at(buf, kit[v], int(t * self.sr), gain)
            t += float(self.rng.exponential(1 / rate))
        return buf

"""The accompaniment layers of the synthesizer: bass lines and harmony (chords, strums, pads, clusters)."""

from __future__ import annotations

from typing import Optional

import numpy as np

from pipeline.datasets.demo.dsp import _add_at, _lowpass, _sin_cycles, _white
from pipeline.datasets.demo.styles import _hz
from pipeline.datasets.demo.synth_core import _SynthCore


class _Accompaniment(_SynthCore):
    """The synthesizer's bass and harmony layers."""

    # --- bass -----------------------------------------------------------------------------------
    def render_bass(self, name: str) -> Optional[np.ndarray]:
        if name == "none":
            return None
        buf = np.zeros(self.n, np.float32)
        sr = self.sr
        if name == "rumble":
            noise = _white(self.rng, self.n)
            y = _lowpass(noise, 70, sr, 3) * 8
            slow = _lowpass(_white(self.rng, self.n), 0.5, sr, 1)
            y *= np.abs(slow) / (np.abs(slow).max() + 1e-9)
            f = float(self.rng.uniform(35, 60))
            y += 0.5 * _sin_cycles(f * self.t(self.n)) * (0.5 + 0.5 * _sin_cycles(0.07 * self.t(self.n)))
            return y.astype(np.float32)
        if name == "808":
            kicks = sorted(set(self.kick_steps)) or [s for s in self.steps() if s % 8 == 0]
            for i, st in enumerate(kicks):
                nxt = kicks[i + 1] if i + 1 < len(kicks) else st + 16
                n = self.samples(min(nxt - st, 12))
                midi = self.bass_root(st, lo=28)
                if midi > 40:
                    midi -= 12
                key = ("808", midi, n)
                if key not in self._cache:
                    t = self.t(n)
                    f = _hz(midi) * (1 + 0.6 * np.exp(-t / 0.03))
                    y = np.tanh(1.8 * _sin_cycles(np.cumsum(f.astype(np.float64)) / sr)) / np.tanh(1.8)
                    self._cache[key] = (y * self.adsr(n, 0.002, 0.6, 0.3, 0.03)).astype(np.float32)
                _add_at(buf, self._cache[key], self.at(st, False))
            return buf
        tr = self.timbre("bass:" + name)
        if name == "sub_offbeat":
            for st in self.steps():
                if st % 4 == 2:
                    note = self.synth_note("sine", self.bass_root(st), self.samples(1.7), decay=0.15, sustain=0.6)
                    _add_at(buf, note, self.at(st, False))
            return buf
        if name == "saw_bass":
            mask = tr.random(16) < 0.75
            mask[0] = True
            for st in self.steps():
                if mask[st % 16]:
                    note = self.synth_note("saw", self.bass_root(st), self.samples(0.9), decay=0.08, sustain=0.3)
                    _add_at(buf, note, self.at(st, False))
            return _lowpass(buf, tr.uniform(500, 1200), sr)
        if name in ("root_quarters", "picked_8ths"):
            every = 4 if name == "root_quarters" else 2
            wave = "square" if tr.random() < 0.5 else "saw"
            for st in self.steps():
                if st % every == 0:
                    root = self.bass_root(st, lo=28 if name == "picked_8ths" else 33)
                    if name == "root_quarters" and st % 16 == 8 and tr.random() < 0.5:
                        root += 7
                    note = self.synth_note(wave, root, self.samples(every * 0.9), decay=0.25, sustain=0.3)
                    _add_at(buf, note, self.at(st))
            return _lowpass(buf, tr.uniform(700, 1600), sr)
        if name == "piano_lh":
            for st in self.steps():
                if st % 8 == 0:
                    root = self.bass_root(st, lo=36) + (7 if st % 16 == 8 else 0)
                    _add_at(buf, self.piano(root, self.samples(8)), self.at(st))
            return buf
        if name == "upright":
            for st in self.steps():
                if st % 8 == 0:
                    root = self.bass_root(st, lo=36) + (7 if st % 16 == 8 else 0)
                    _add_at(buf, self.pluck(root, self.samples(7), bright=0.3, decay_s=0.8), self.at(st))
            return buf
        raise ValueError(f"unknown bass {name!r}")

    # --- harmony --------------------------------------------------------------------------------
    def guitar_strings(self, step: int) -> list[int]:
        c = self.chord(step, base=40)
        r = c[0]
        while r > 51:
            r -= 12
        third, fifth = c[1] - c[0], c[2] - c[0]
        return [r, r + fifth, r + 12, r + 12 + third, r + 12 + fifth, r + 24]

    def render_harmony(self, name: str) -> Optional[np.ndarray]:
        if name == "none":
            return None
        buf = np.zeros(self.n, np.float32)
        tr = self.timbre("harmony:" + name)
        sr = self.sr
        if name in ("strum", "oud"):
            patterns = [
                "D.......D.......",
                "D...D...D...D...",
                "D...D.U...U.D.U.",
                "D.D.D.D.D.D.D.D.",
                "D..UD.U.D..UD.U.",
            ]
            if name == "oud":
                patterns = ["D..D..D.D...D...", "D.DDD.D.D.DDD.D.", "D..D..D.D..D.D.."]
            patt = patterns[int(tr.integers(len(patterns)))]
            gap_ms = tr.uniform(8, 18)
            bright = tr.uniform(0.5, 0.95)
            for st, c, until_next in self.pattern_hits(patt):
                ring = self.samples(until_next + 1)
                strings = self.guitar_strings(st)
                if name == "oud":  # root-fifth dyads an octave up
                    strings = [strings[0] + 12, strings[1] + 12]
                order = strings if c == "D" else strings[:1:-1]
                vel = 1.0 if c == "D" else 0.6
                start = self.at(st)
                for k, m in enumerate(order):
                    _add_at(
                        buf, self.pluck(m, ring, bright=bright, decay_s=2.0), start + int(k * gap_ms * sr / 1000), vel
                    )
            return buf
        if name == "fingerpick":
            treble = [(2, 3), (6, 4), (10, 5), (14, 3)]
            if tr.random() < 0.5:
                treble += [(3, 4), (11, 5)]
            bright = tr.uniform(0.4, 0.8)
            for st in self.steps():
                strings = self.guitar_strings(st)
                i = st % 16
                if i % 4 == 0:
                    s = strings[0] if i % 8 == 0 else strings[1]
                    _add_at(buf, self.pluck(s, self.samples(6), bright=bright), self.at(st), 0.9)
                for pos, string in treble:
                    if i == pos:
                        _add_at(buf, self.pluck(strings[string], self.samples(6), bright=bright), self.at(st), 0.7)
            return buf
        if name == "power":
            patterns = ["X.x.x.x.X.x.x.x.", "x.x.x.x.x.x.x.x.", "X.......X.......", "X.x.x.X.x.x.X.x."]
            patt = patterns[int(tr.integers(len(patterns)))]
            drive = tr.uniform(4.0, 12.0)
            for st, c, until_next in self.pattern_hits(patt):
                root = self.chord(st, base=40)[0]
                while root > 52:
                    root -= 12
                note = self.power_chord(root, self.samples(until_next), muted=(c == "x"), drive=drive)
                _add_at(buf, note, self.at(st), 1.0 if c == "X" else 0.8)
            return _lowpass(buf, tr.uniform(2500, 5000), sr)  # the guitar cabinet
        if name in ("saw_pad", "string_pad"):
            attack = tr.uniform(0.05, 0.4) if name == "saw_pad" else tr.uniform(0.4, 0.9)
            cutoff = tr.uniform(1500, 5000) if name == "saw_pad" else tr.uniform(1200, 3000)
            size = 4 if tr.random() < 0.4 else 3
            span = 16 * self.p.bars_per_chord
            for st in self.steps():
                if st % span == 0:
                    n = self.samples(span + 2)
                    for m in self.chord(st, base=52 if name == "string_pad" else 48, size=size):
                        note = self.synth_note(
                            "saw", m, n, voices=3, detune=12.0, attack=attack, decay=1.0, sustain=0.8, release=0.3
                        )
                        _add_at(buf, note, self.at(st, False))
            return _lowpass(buf, cutoff, sr)
        if name == "square_stab":
            patterns = ["..x...x...x...x.", "x..x..x...x..x..", "...x..x....x..x.", "x.x...x.x...x..."]
            patt = patterns[int(tr.integers(len(patterns)))]
            length = tr.uniform(0.6, 2.0)
            wave = "square" if tr.random() < 0.6 else "saw"
            for st in self.steps():
                if patt[st % 16] != ".":
                    for m in self.chord(st, base=55, size=3):
                        note = self.synth_note(
                            wave, m, self.samples(length), voices=2, detune=8.0, decay=0.15, sustain=0.2
                        )
                        _add_at(buf, note, self.at(st, False))
            return _lowpass(buf, tr.uniform(2000, 6000), sr)
        if name in ("piano_chords", "rhodes"):
            patterns = ["x.......x.......", "x..........x....", "x...x...x...x...", "x.....x...x....."]
            if name == "rhodes":
                patterns = ["x.....x...x.....x.......x.......", "x.......x..x....", "x..........x....x..............."]
            patt = patterns[int(tr.integers(len(patterns)))]
            size = 4 if (name == "rhodes" or tr.random() < 0.3) else 3
            for st, _, until_next in self.pattern_hits(patt):
                n = self.samples(until_next + 1)
                start = self.at(st)
                for k, m in enumerate(self.chord(st, base=52, size=size)):
                    note = self.rhodes(m, n) if name == "rhodes" else self.piano(m, n)
                    _add_at(buf, note, start + int(k * 0.004 * sr), 0.8)
            return buf
        if name == "piano_arpeggio":
            shapes = [(0, 1, 2, 3, 4, 3, 2, 1), (0, 2, 1, 3, 0, 2, 1, 3), (0, 1, 2, 3, 4, 5, 4, 3)]
            shape = shapes[int(tr.integers(len(shapes)))]
            every = 2 if tr.random() < 0.7 else 1
            for st in self.steps():
                if st % every:
                    continue
                c = self.chord(st, base=48, size=3)
                tones = c + [m + 12 for m in c]
                m = tones[shape[(st // every) % len(shape)]]
                _add_at(buf, self.piano(m, self.samples(8)), self.at(st), 0.7)
            return buf
        if name == "cluster":
            t = float(self.rng.uniform(0, 1.5))
            dur = self.n / sr
            while t < dur:
                ev = float(self.rng.uniform(0.8, 4.0))
                n = int(ev * sr)
                base = int(self.rng.integers(40, 84))
                k = int(self.rng.integers(3, 7))
                pitches = base + np.sort(self.rng.choice(8, size=k, replace=False))
                wave = ["sine", "tri", "saw"][int(self.rng.integers(3))]
                att = ev * float(self.rng.uniform(0.05, 0.6))
                ev_buf = np.zeros(n, np.float32)
                for m in pitches:
                    ev_buf += self.osc(
                        wave, _hz(float(m) + self.rng.normal(0, 0.15)), n, phase=float(self.rng.random())
                    )
                ev_buf *= self.adsr(n, att, 10.0, 1.0, ev * 0.3) / k
                _add_at(buf, ev_buf, int(t * sr), float(self.rng.uniform(0.3, 1.0)))
                t += ev * float(self.rng.uniform(0.4, 1.2))
            return _lowpass(buf, float(self.rng.uniform(2000, 8000)), sr)
        raise ValueError(f"unknown harmony {name!r}")

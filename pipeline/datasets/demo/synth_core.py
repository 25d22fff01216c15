"""The synthesizer's base: the song's time grid, its harmony, envelopes, oscillators and the instrument
voices (synth notes, piano, Rhodes, plucked string, power chord) that the layer renderers play."""

from __future__ import annotations

import math
import zlib

import numpy as np

from pipeline.datasets.demo.dsp import _TWO_PI, _box, _frac, _sin_cycles
from pipeline.datasets.demo.planning import TrackPlan, _rng
from pipeline.datasets.demo.styles import SCALES, _hz, _style


class _SynthCore:
    """State of one track's synthesis: the song's time grid, its harmony and the instrument voices."""

    def __init__(self, plan: TrackPlan, seed: int, artist_id: int, track_id: int, sr: int, n: int) -> None:
        self.p = plan
        self.style = _style(plan.genre)
        self.seed, self.artist_id = seed, artist_id
        self.sr, self.n = sr, n
        self.rng = _rng(seed, 3, track_id)  # notes, hits, events of this track
        self.step_s = 60.0 / plan.bpm / 4.0
        self.swing_shift = (2.0 * plan.swing - 1.0) * self.step_s
        self.offset_s = plan.offset_beats * 60.0 / plan.bpm
        self.humanize_s = self.style.humanize_ms / 1000.0
        self.step_lo = int(self.offset_s / self.step_s) - 32  # pre-roll: notes still ringing at the start
        self.step_hi = int(math.ceil((self.offset_s + n / sr) / self.step_s)) + 1
        self._tcache: dict[int, np.ndarray] = {}
        self._cache: dict[tuple, np.ndarray] = {}
        self.kick_steps: list[int] = []

    # --- time -----------------------------------------------------------------------------------
    def t(self, n: int) -> np.ndarray:
        if n not in self._tcache:
            self._tcache[n] = np.arange(n, dtype=np.float32) / np.float32(self.sr)
        return self._tcache[n]

    def at(self, step: float, humanize: bool = True) -> int:
        """Sample index in the clip of a (possibly fractional) 16th step of the song."""
        whole = int(math.floor(step))
        sec = step * self.step_s + (self.swing_shift if whole % 2 else 0.0) - self.offset_s
        if humanize and self.humanize_s:
            sec += float(self.rng.normal(0.0, self.humanize_s))
        return int(round(sec * self.sr))

    def samples(self, steps: float) -> int:
        return max(1, int(round(steps * self.step_s * self.sr)))

    def steps(self) -> range:
        return range(max(self.step_lo, 0), self.step_hi)

    def pattern_hits(self, pattern: str):
        """(step, symbol, steps until the next hit) for every hit of a repeating step pattern in the clip."""
        length = len(pattern)
        hits = [i for i, c in enumerate(pattern) if c != "."]
        for st in self.steps():
            i = st % length
            if pattern[i] == ".":
                continue
            pos = hits.index(i)
            nxt = hits[(pos + 1) % len(hits)] + (length if pos + 1 == len(hits) else 0)
            yield st, pattern[i], nxt - i

    def timbre(self, name: str) -> np.random.Generator:
        """The artist's sound of one instrument: the same for all their tracks."""
        return _rng(self.seed, 4, self.artist_id, zlib.crc32(name.encode()))

    # --- harmony --------------------------------------------------------------------------------
    def degree_midi(self, degree: int, base: int) -> int:
        sc = SCALES[self.p.harmony_scale]
        octave, i = divmod(degree, len(sc))
        return base + self.p.key + 12 * octave + sc[i]

    def chord_degree(self, step: int) -> int:
        bar = step // 16
        prog = self.p.progression
        return prog[(bar // self.p.bars_per_chord) % len(prog)]

    def chord(self, step: int, base: int = 48, size: int = 3) -> list[int]:
        d = self.chord_degree(step)
        return [self.degree_midi(d + 2 * i, base) for i in range(size)]

    def bass_root(self, step: int, lo: int = 33) -> int:
        m = self.degree_midi(self.chord_degree(step), 24)
        while m < lo:
            m += 12
        return m

    def scale_notes(self, lo: int, hi: int) -> np.ndarray:
        pcs = {(self.p.key + i) % 12 for i in self.p.melody_scale}
        return np.array([m for m in range(lo, hi + 1) if m % 12 in pcs])

    # --- envelopes and oscillators --------------------------------------------------------------
    def adsr(self, n: int, attack: float, decay: float, sustain: float, release: float) -> np.ndarray:
        t = self.t(n)
        env = np.float32(sustain) + np.float32(1 - sustain) * np.exp(-t / np.float32(max(decay, 1e-4)))
        if attack > 0:
            env = env * np.minimum(np.float32(1.0), t / np.float32(attack))
        r = min(n, int(release * self.sr))
        if r > 1:
            env[-r:] *= np.linspace(1.0, 0.0, r, dtype=np.float32)
        return env.astype(np.float32, copy=False)

    def osc(self, wave: str, freq: float, n: int, phase: float = 0.0, pw: float = 0.5) -> np.ndarray:
        ph = _frac(np.float32(freq) * self.t(n) + np.float32(phase))
        if wave == "saw":
            return 2.0 * ph - 1.0
        if wave == "square":
            return np.where(ph < pw, np.float32(1.0), np.float32(-1.0))
        if wave == "tri":
            return 4.0 * np.abs(ph - 0.5) - 1.0
        return np.sin(_TWO_PI * ph)

    def synth_note(
        self,
        wave: str,
        midi: float,
        n: int,
        voices: int = 1,
        detune: float = 0.0,
        attack: float = 0.005,
        decay: float = 0.3,
        sustain: float = 0.0,
        release: float = 0.02,
    ) -> np.ndarray:
        key = ("synth", wave, midi, n, voices, detune, attack, decay, sustain, release)
        if key not in self._cache:
            f = _hz(midi)
            y = np.zeros(n, np.float32)
            for v in range(voices):
                cents = detune * (v - (voices - 1) / 2)
                y += self.osc(wave, f * 2 ** (cents / 1200), n, phase=0.37 * v)
            self._cache[key] = (y / voices) * self.adsr(n, attack, decay, sustain, release)
        return self._cache[key]

    def piano(self, midi: int, n: int, bright: float = 1.0) -> np.ndarray:
        key = ("piano", midi, n, bright)
        if key not in self._cache:
            f0 = _hz(midi)
            t = self.t(n)
            tau = float(np.clip(3.0 * (261.6 / f0) ** 0.6, 0.3, 6.0))
            y = np.zeros(n, np.float32)
            for k in range(1, 11):
                fk = k * f0 * math.sqrt(1 + 1.5e-4 * k * k)  # stiff-string inharmonicity
                if fk > 0.45 * self.sr:
                    break
                amp = k ** (-1.4 / bright)
                y += np.float32(amp) * np.exp(-t / np.float32(tau / (1 + 0.6 * (k - 1)))) * _sin_cycles(fk * t)
            y *= np.minimum(np.float32(1.0), t / np.float32(0.002))
            r = min(n, int(0.05 * self.sr))
            y[-r:] *= np.linspace(1, 0, r, dtype=np.float32)  # damper
            self._cache[key] = y
        return self._cache[key]

    def rhodes(self, midi: int, n: int) -> np.ndarray:
        key = ("rhodes", midi, n)
        if key not in self._cache:
            tr = self.timbre("rhodes")
            rate, depth, bell = tr.uniform(3.5, 6.0), tr.uniform(0.1, 0.35), tr.uniform(0.1, 0.4)
            f = _hz(midi)
            t = self.t(n)
            y = _sin_cycles(f * t) * np.exp(-t / 1.5) + 0.25 * _sin_cycles(2 * f * t) * np.exp(-t / 0.6)
            if 7.1 * f < 0.45 * self.sr:
                y += np.float32(bell) * _sin_cycles(7.1 * f * t) * np.exp(-t / 0.05)
            y *= 1 - depth * (0.5 + 0.5 * _sin_cycles(rate * t))
            y *= self.adsr(n, 0.003, 10.0, 1.0, 0.08)
            self._cache[key] = y.astype(np.float32)
        return self._cache[key]

    def pluck(self, midi: float, n: int, bright: float = 0.7, decay_s: float = 1.5) -> np.ndarray:
        """Karplus-Strong plucked string, computed one period at a time (vectorised per period)."""
        variant = int(self.rng.integers(3))
        key = ("ks", midi, n, bright, decay_s, variant)
        if key not in self._cache:
            f0 = _hz(midi)
            period = max(2, int(round(self.sr / f0 - 0.5)))
            ex = _rng(variant, int(midi * 10), 77).uniform(-1, 1, period).astype(np.float32)
            ex = bright * ex + (1 - bright) * _box(ex, 4)
            ex -= ex.mean()
            g = np.float32(0.5 * math.exp(-period / (self.sr * decay_s)))
            y = np.zeros(n + period + 1, np.float32)
            y[1 : period + 1] = ex
            pos = period + 1
            end_all = n + 1
            while pos < end_all:
                end = min(pos + period, end_all)
                y[pos:end] = g * (y[pos - period : end - period] + y[pos - period - 1 : end - period - 1])
                pos = end
            out = y[1 : n + 1].copy()
            r = min(n, int(0.02 * self.sr))
            out[-r:] *= np.linspace(1, 0, r, dtype=np.float32)
            self._cache[key] = out
        return self._cache[key]

    def power_chord(self, root: int, n: int, muted: bool, drive: float) -> np.ndarray:
        key = ("power", root, n, muted, drive)
        if key not in self._cache:
            x = np.zeros(n, np.float32)
            for interval in (0, 7, 12):
                for v, cents in enumerate((-7.0, 7.0)):
                    x += self.osc("saw", _hz(root + interval) * 2 ** (cents / 1200), n, phase=0.21 * v + 0.1 * interval)
            y = np.tanh(np.float32(drive / 6.0) * x) / np.float32(math.tanh(drive))
            env = self.adsr(n, 0.002, 0.07, 0.0, 0.01) if muted else self.adsr(n, 0.002, 0.5, 0.55, 0.03)
            self._cache[key] = (y * env).astype(np.float32)
        return self._cache[key]

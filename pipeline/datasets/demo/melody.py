"""The lead layer of the synthesizer: generated melodies and the instruments that play them."""

from __future__ import annotations

import math
from typing import Optional

import numpy as np

from pipeline.datasets.demo.dsp import _TWO_PI, _add_at, _box, _frac, _highpass, _lowpass, _sin_cycles, _white
from pipeline.datasets.demo.styles import _hz
from pipeline.datasets.demo.synth_core import _SynthCore


class _Lead(_SynthCore):
    """The synthesizer's melodies: arpeggios, bells, piano and plucks, sung/bowed/blown voices, glissandi."""

    # --- melody ---------------------------------------------------------------------------------
    def melody(
        self,
        lo: int,
        hi: int,
        durations: tuple[int, ...],
        probs: tuple[float, ...],
        rest: float,
        phrase_bars: int = 2,
        vary: float = 0.25,
        grace: float = 0.0,
        tr: Optional[np.random.Generator] = None,
    ) -> list[tuple[float, float, float]]:
        """(start_step, length_steps, midi) notes: a phrase repeated with variations, on the song's grid."""
        rng = tr or self.rng
        pitches = self.scale_notes(lo, hi)
        length = phrase_bars * 16
        phrase = []
        pos = 0
        idx = len(pitches) // 2 + int(rng.integers(-2, 3))
        p = np.array(probs) / sum(probs)
        while pos < length - 1:
            d = int(durations[int(rng.choice(len(durations), p=p))])
            d = min(d, length - pos)
            if rng.random() < rest:
                pos += d
                continue
            move = int(rng.choice([-2, -1, 0, 1, 2], p=[0.15, 0.3, 0.1, 0.3, 0.15]))
            if rng.random() < 0.12:
                move = int(rng.choice([-5, -4, -3, 3, 4, 5]))
            idx = int(np.clip(idx + move, 0, len(pitches) - 1))
            phrase.append((pos, d, idx))
            pos += d
        notes: list[tuple[float, float, float]] = []
        for ph in range(max(self.step_lo, 0) // length, self.step_hi // length + 1):
            for pos, d, idx in phrase:
                i = idx
                if vary and self.rng.random() < vary:
                    i = int(np.clip(idx + self.rng.choice([-1, 1]), 0, len(pitches) - 1))
                start = ph * length + pos
                if grace and self.rng.random() < grace and d >= 2:  # ornament: a quick upper/lower neighbour
                    g = int(np.clip(i + self.rng.choice([-1, 1]), 0, len(pitches) - 1))
                    notes.append((start, 0.35, float(pitches[g])))
                    notes.append((start + 0.35, d - 0.35, float(pitches[i])))
                else:
                    notes.append((start, d, float(pitches[i])))
        return notes

    def contour_voice(self, notes: list[tuple[float, float, float]], kind: str) -> np.ndarray:
        """A continuous voice (sung/bowed/blown): gliding pitch, vibrato, shaped harmonics."""
        tr = self.timbre("voice:" + kind)
        sr, n = self.sr, self.n
        logf = np.zeros(n, np.float64)
        amp = np.zeros(n, np.float32)
        have = np.zeros(n, bool)
        for start, d, midi in notes:
            i0 = self.at(start)
            i1 = i0 + self.samples(d * 0.92)
            a, b = max(i0, 0), min(i1, n)
            if a >= b:
                continue
            logf[a:b] = math.log(_hz(midi))
            have[a:b] = True
            amp[a:b] = float(self.rng.uniform(0.75, 1.0))
        if not have.any():
            return np.zeros(n, np.float32)
        idx = np.where(have, np.arange(n), 0)
        np.maximum.accumulate(idx, out=idx)
        first = int(np.argmax(have))
        idx[:first] = first
        logf = logf[idx]  # hold the last pitch through rests, so the next note glides from it
        glide = {"vocal": 0.05, "reed": 0.09, "fiddle": 0.02, "strings": 0.08, "guitar_lead": 0.03}[kind]
        glide *= tr.uniform(0.6, 1.4)
        logf = _box(logf, int(glide * sr)).astype(np.float64)
        t = self.t(n)
        vib_hz = tr.uniform(4.8, 6.2)
        vib_cents = {"vocal": 25, "reed": 35, "fiddle": 15, "strings": 12, "guitar_lead": 20}[kind] * tr.uniform(
            0.6, 1.5
        )
        logf += (vib_cents / 1200 * math.log(2)) * _sin_cycles(vib_hz * t).astype(np.float64)
        f = np.exp(logf)
        phase = np.cumsum(f) / sr
        attack = {"vocal": 0.04, "reed": 0.05, "fiddle": 0.02, "strings": 0.15, "guitar_lead": 0.01}[kind]
        amp = _box(amp, max(2, int(attack * sr)))
        f0 = float(np.exp(np.median(logf[have])))
        K = 12
        ks = np.arange(1, K + 1)
        if kind == "vocal":  # a vowel: two formants on a 1/k slope
            f1, f2 = tr.uniform(450, 800), tr.uniform(1000, 2200)
            w = ks**-0.8 * (
                1 + 4 * np.exp(-((((ks * f0) - f1) / 200) ** 2)) + 3 * np.exp(-((((ks * f0) - f2) / 300) ** 2))
            )
        elif kind == "reed":  # odd harmonics dominate (clarinet / ney-like)
            w = np.where(ks % 2 == 1, 1.0, 0.25) * ks**-0.9
        elif kind == "strings":
            w = ks**-1.4
        else:  # fiddle, guitar lead: saw-like
            w = ks**-1.0
        w = w / w.sum()
        y = np.zeros(n, np.float32)
        for k, wk in zip(ks, w):
            if k * f0 > 0.4 * sr:
                break
            y += np.float32(wk) * _sin_cycles(k * phase)
        if kind == "guitar_lead":
            drive = tr.uniform(4, 10)
            y = np.tanh(drive * 4 * y) / math.tanh(drive)
            y = _lowpass(y, tr.uniform(2500, 5000), sr)
        breath = {"vocal": 0.03, "reed": 0.09, "fiddle": 0.04, "strings": 0.02, "guitar_lead": 0.0}[kind]
        if breath:
            y += np.float32(breath) * _highpass(_white(self.rng, n), 1500, sr)
        return (y * amp).astype(np.float32)

    def render_lead(self, name: str) -> Optional[np.ndarray]:
        if name == "none":
            return None
        lo, hi = self.style.lead_register
        tr = self.timbre("lead:" + name)
        buf = np.zeros(self.n, np.float32)
        sr = self.sr
        if name in ("saw_arp", "square_arp"):
            shapes = [(0, 1, 2, 3), (0, 1, 2, 3, 4, 5), (0, 2, 1, 3, 2, 4), (0, 3, 1, 4, 2, 5, 3, 1)]
            shape = shapes[int(tr.integers(len(shapes)))]
            mask = tr.random(16) < tr.uniform(0.55, 1.0)
            mask[0] = True
            gate = tr.uniform(0.5, 1.2)
            wave = "saw" if name == "saw_arp" else "square"
            base = max(lo, 60)
            for st in self.steps():
                if not mask[st % 16]:
                    continue
                c = self.chord(st, base=base, size=3)
                tones = c + [m + 12 for m in c]
                m = tones[shape[st % len(shape)] % len(tones)]
                _add_at(buf, self.synth_note(wave, m, self.samples(gate), decay=0.1, sustain=0.2), self.at(st, False))
            return _lowpass(buf, tr.uniform(2500, 8000), sr)
        if name == "bell":  # a 2-bar loop repeated exactly
            notes = self.melody(lo, hi, (2, 4, 6), (0.4, 0.4, 0.2), rest=0.35, vary=0.0, tr=tr)
            for start, d, m in notes:
                _add_at(buf, self.rhodes(int(m), self.samples(max(d, 4))), self.at(start, False))
            return buf
        if name == "piano_melody":
            for start, d, m in self.melody(lo, hi, (2, 4, 8), (0.4, 0.4, 0.2), rest=0.1):
                _add_at(buf, self.piano(int(m), self.samples(d + 2), bright=1.2), self.at(start))
            return buf
        if name == "pluck_melody":
            for start, d, m in self.melody(lo, hi, (2, 4), (0.6, 0.4), rest=0.1, grace=0.1):
                _add_at(buf, self.pluck(m, self.samples(d + 1), bright=0.8, decay_s=1.0), self.at(start))
            return buf
        if name == "gliss":
            t = float(self.rng.uniform(0, 1.0))
            dur = self.n / sr
            while t < dur:
                ev = float(self.rng.uniform(0.3, 3.5))
                n = int(ev * sr)
                f1, f2 = np.exp(self.rng.uniform(math.log(80), math.log(4000), 2))
                f = np.exp(np.linspace(math.log(f1), math.log(f2), n))
                ph = np.cumsum(f) / sr
                ratio = float(self.rng.choice([0.5, 1.41, 2.76, 3.5]))
                index = float(self.rng.uniform(0, 4))
                y = np.sin(_TWO_PI * _frac(ph) + np.float32(index) * _sin_cycles(ratio * ph))
                if self.rng.random() < 0.5:
                    env = self.adsr(n, 0.005, ev * 0.3, 0.0, 0.05)
                else:
                    env = np.sin(np.linspace(0, np.pi, n, dtype=np.float32)) ** 2
                _add_at(buf, (y * env).astype(np.float32), int(t * sr), float(self.rng.uniform(0.3, 1.0)))
                t += ev * float(self.rng.uniform(0.3, 1.3)) + float(self.rng.exponential(0.5))
            return buf
        settings = {  # durations in 16ths, their probabilities, rest chance, ornament chance
            "vocal": ((2, 4, 6, 8), (0.35, 0.35, 0.1, 0.2), 0.2, 0.05),
            "fiddle": ((1, 2, 4), (0.3, 0.5, 0.2), 0.05, 0.1),
            "reed": ((2, 4, 8, 12), (0.3, 0.35, 0.2, 0.15), 0.12, 0.4),
            "strings": ((8, 16), (0.6, 0.4), 0.1, 0.0),
            "guitar_lead": ((2, 4, 8), (0.4, 0.4, 0.2), 0.15, 0.25),
        }
        if name not in settings:
            raise ValueError(f"unknown lead {name!r}")
        durs, probs, rest, grace = settings[name]
        notes = self.melody(lo, hi, durs, probs, rest=rest, grace=grace, phrase_bars=2 if name != "strings" else 4)
        return self.contour_voice(notes, name)

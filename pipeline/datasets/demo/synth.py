"""The synthesizer of one track (synthesize_track): drone and texture layers, and the mix of all layers."""

from __future__ import annotations

import math
from typing import Optional

import numpy as np

from pipeline.datasets.demo.accompaniment import _Accompaniment
from pipeline.datasets.demo.drums import _Drums
from pipeline.datasets.demo.dsp import (
    _active_rms,
    _add_at,
    _box,
    _frac,
    _highpass,
    _lowpass,
    _sin_cycles,
    _soft_limit,
    _white,
)
from pipeline.datasets.demo.melody import _Lead
from pipeline.datasets.demo.planning import plan_track
from pipeline.datasets.demo.styles import _hz


class _Synth(_Drums, _Accompaniment, _Lead):
    """Renders every layer of one track's plan and mixes them to stereo."""

    # --- drone and texture ----------------------------------------------------------------------
    def render_drone(self) -> np.ndarray:
        sr, n = self.sr, self.n
        buf = np.zeros(n, np.float32)
        tr = self.timbre("drone")
        if self.p.genre == "Experimental":  # dark: detuned low saws, slowly breathing, low-passed
            t = self.t(n)
            base = _hz(36 + self.p.key + float(tr.uniform(-0.5, 0.5)))
            for ratio, cents in ((1.0, -9), (1.0, 11), (1.5, 4), (2.01, 0)):
                buf += self.osc("saw", base * ratio * 2 ** (cents / 1200), n, phase=float(tr.random()))
            buf *= 0.6 + 0.4 * _sin_cycles(float(tr.uniform(0.03, 0.2)) * t)
            return _lowpass(buf, float(tr.uniform(300, 1200)), sr)
        # tanpura: Pa Sa' Sa' Sa plucked in a slow cycle, long buzzing decays
        root = 48 + self.p.key
        if root > 55:
            root -= 12
        cycle = float(tr.uniform(2.5, 4.5))
        notes = (root + 7, root + 12, root + 12, root)
        ring = int(4.0 * sr)
        tt = self.t(ring)
        for i, m in enumerate(notes):
            key = ("tanpura", m)
            if key not in self._cache:
                f0 = _hz(m)
                y = np.zeros(ring, np.float32)
                for k in range(1, 15):
                    if k * f0 > 0.4 * sr:
                        break
                    swell = 1 - np.exp(-tt * k / 0.4)  # "jawari": upper partials bloom after the pluck
                    y += np.float32(k**-0.7) * swell * np.exp(-tt / (3.0 / (1 + 0.08 * k))) * _sin_cycles(k * f0 * tt)
                y *= np.minimum(1.0, tt / 0.005)
                y[-2000:] *= np.linspace(1, 0, 2000, dtype=np.float32)
                self._cache[key] = y
            start = -int(8 * sr) + int(i * cycle / 4 * sr)
            while start < n:
                _add_at(buf, self._cache[key], start)
                start += int(cycle * sr)
        return buf

    def render_texture(self, name: str) -> Optional[np.ndarray]:
        sr, n = self.sr, self.n
        if name == "none":
            return None
        if name == "vinyl":
            buf = np.zeros(n, np.float32)
            count = int(self.rng.uniform(5, 25) * n / sr)
            pos = self.rng.integers(0, n, count)
            amps = self.rng.pareto(2.5, count).astype(np.float32) + 0.2
            tick = np.exp(-np.arange(24, dtype=np.float32) / 4) * self.rng.standard_normal(24).astype(np.float32)
            for p, a in zip(pos, amps):
                _add_at(buf, tick, int(p), float(a))
            buf += 0.05 * _lowpass(_white(self.rng, n), 3000, sr)
            return buf
        if name == "room":
            y = _lowpass(_white(self.rng, n), float(self.rng.uniform(600, 2500)), sr, 2)
            slow = 0.7 + 0.3 * _sin_cycles(float(self.rng.uniform(0.05, 0.3)) * self.t(n))
            return (y * slow).astype(np.float32)
        if name == "noise_bursts":
            buf = np.zeros(n, np.float32)
            t = float(self.rng.uniform(0, 0.5))
            rate = float(self.rng.uniform(0.5, 2.5))
            while t < n / sr:
                m = int(float(self.rng.uniform(0.02, 1.0)) * sr)
                x = _white(self.rng, m)
                if self.rng.random() < 0.5:
                    x = _lowpass(x, float(np.exp(self.rng.uniform(math.log(200), math.log(12000)))), sr)
                else:
                    x = _highpass(x, float(np.exp(self.rng.uniform(math.log(500), math.log(8000)))), sr)
                env = self.adsr(m, float(self.rng.uniform(0.001, 0.3)) * m / sr, m / sr / 3, 0.0, 0.01)
                _add_at(buf, x * env, int(t * sr), float(self.rng.uniform(0.2, 1.0)))
                t += float(self.rng.exponential(1 / rate))
            return buf
        raise ValueError(f"unknown texture {name!r}")

    # --- mix ------------------------------------------------------------------------------------
    def render(self) -> np.ndarray:
        p, sr, n = self.p, self.sr, self.n
        drums, cym = self.render_drums(p.drums)  # first: the 808 follows the kicks
        layers = {
            "drums": drums,
            "cymbals": cym,
            "bass": self.render_bass(p.bass),
            "harmony": self.render_harmony(p.harmony),
            "lead": self.render_lead(p.lead),
            "drone": self.render_drone() if p.drone else None,
            "texture": self.render_texture(p.texture),
        }
        if p.sidechain:
            beat = 4 * self.step_s
            phase = np.float32(beat) * _frac((self.t(n) + np.float32(self.offset_s)) / np.float32(beat))
            pump = 1.0 - 0.55 * np.exp(-phase / 0.09)
            for k in ("bass", "harmony", "lead", "drone"):
                if layers[k] is not None:
                    layers[k] = layers[k] * pump
        levels = dict(p.levels_db)
        pans = dict(p.pans)
        left = np.zeros(n, np.float32)
        right = np.zeros(n, np.float32)
        for name, x in layers.items():
            if x is None:
                continue
            rms = _active_rms(x)
            if rms <= 1e-9:
                continue
            gain = 10 ** (levels[name] / 20) / rms
            theta = (pans[name] + 1) * math.pi / 4
            gl, gr = math.cos(theta) * math.sqrt(2) * gain, math.sin(theta) * math.sqrt(2) * gain
            left += np.float32(gl) * x
            if name in ("harmony", "drone"):  # Haas widening
                d = int(0.012 * sr)
                right[d:] += np.float32(gr) * x[:-d]
            else:
                right += np.float32(gr) * x
        if p.reverb > 0:
            send = _lowpass(0.5 * (left + right), 5000, sr, 1)
            rt = float(self.rng.uniform(0.5, 1.6))
            for ch in (left, right):
                delays = np.sort(self.rng.uniform(0.012, rt * 0.6, 10))
                for d in delays:
                    k = int(d * sr)
                    ch[k:] += np.float32(p.reverb * math.exp(-6.9 * d / rt) / math.sqrt(3)) * send[:-k]
        if p.brightness_hz < 15000:
            left = _lowpass(left, p.brightness_hz, sr, 1)
            right = _lowpass(right, p.brightness_hz, sr, 1)
        if self.style.gap_prob and self.rng.random() < self.style.gap_prob:
            gate = np.ones(n, np.float32)
            for _ in range(int(self.rng.integers(1, 4))):
                g0 = int(self.rng.uniform(0, n / sr) * sr)
                g1 = min(n, g0 + int(self.rng.uniform(0.2, 1.5) * sr))
                gate[g0:g1] = 0.0
            gate = _box(gate, int(0.01 * sr))
            left *= gate
            right *= gate
        music_rms = math.sqrt(
            float(np.mean(np.square(left, dtype=np.float64) + np.square(right, dtype=np.float64)) / 2)
        )
        music_rms = max(music_rms, 1e-6)
        # A noise floor on every track (tape/amp/room), its colour random: no genre is perfectly clean.
        noise = _white(self.rng, (2, n))
        color = float(self.rng.uniform(0, 1))
        noise = color * noise + (1 - color) * np.stack([_lowpass(c, 2500, sr, 1) for c in noise]) * 3
        noise *= np.float32(music_rms * 10 ** (p.noise_db / 20) / (float(np.std(noise)) + 1e-9))
        out = np.stack([left, right], axis=1) + noise.T
        rms = math.sqrt(float(np.mean(np.square(out, dtype=np.float64))))
        out *= np.float32(10 ** (p.target_rms_dbfs / 20) / max(rms, 1e-9))
        return _soft_limit(out).astype(np.float32)


def synthesize_track(
    genre: str, *, seed: int, artist_id: int, track_id: int, sample_rate: int, clip_seconds: float
) -> np.ndarray:
    """The audio of one demo track: [frames, 2] float32 in [-1, 1]. Deterministic in its arguments."""
    n = int(round(clip_seconds * sample_rate))
    plan = plan_track(genre, seed, artist_id, track_id)
    return _Synth(plan, seed, artist_id, track_id, sample_rate, n).render()

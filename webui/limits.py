"""What one visitor may store and how fast: the studio's limits, each a command-line flag (``app.py``).

``Limits`` is passed to ``build_demo(limits=...)``; ``app.py`` fills it from its flags
(``--max-voices``, ``--saves-per-minute``...). The defaults keep an open studio's disk use bounded
(see README, "What an open studio can cost its host").
"""

from __future__ import annotations

from dataclasses import dataclass, fields

MB = 2**20


@dataclass(frozen=True)
class Limits:
    export_keep_s: float = 600.0  # a prepared download (zip, /export, timeline export) lives this long
    export_max_mb: float = 256.0  # prepared downloads of all visitors together, at most
    max_voices: int = 50  # stored voices per owner (uploads, clones, takes saved as voices)
    max_timelines: int = 20  # timelines per owner
    max_versions: int = 10  # rendered versions per timeline
    max_history: int = 500  # generations per owner (starred or not)
    max_history_mb: float = 500.0  # audio and voice files of an owner's history
    max_data_gb: float = 20.0  # the data folder of all owners together: saves are refused beyond it
    saves_per_minute: int = 10  # saving actions (clone, save voice, upload, timeline saves) per owner per minute
    saves_per_minute_per_address: int = 30  # the same, per client address (many fresh owners from one place)

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if not value > 0:
                raise ValueError(f"The limit {f.name} must be positive (got {value}).")

    @property
    def export_max_bytes(self) -> int:
        return int(self.export_max_mb * MB)

    @property
    def max_history_bytes(self) -> int:
        return int(self.max_history_mb * MB)

    @property
    def max_data_bytes(self) -> int:
        return int(self.max_data_gb * 1024 * MB)

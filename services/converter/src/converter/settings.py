import os

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shared.settings import WorkerSettings

STARTED_AFTER_S = 0.25


class ConverterSettings(WorkerSettings):
    model_config = SettingsConfigDict(env_prefix="CONVERTER_", extra="ignore")

    ops_port: int = 9002
    prefetch: int = 0  # 0: twice the number of JVM workers
    workers: int = Field(default_factory=lambda: os.cpu_count() or 2, ge=1)
    jvm_heap_mb: int = Field(default=512, ge=32)
    # the JVM workers yield the CPU to the APIs, the database and the broker on a shared
    # machine (make run, one node), so conversion takes what is left, not what answers users
    jvm_nice: int = Field(default=10, ge=0, le=19)
    # Measured here (bench/raw_mpxj.py --engine, 76 MPP files): C1 alone (no C2 compiler)
    # and the serial collector halve the CPU per file at the same files/s; on a machine whose
    # cores the JVMs share with the services, the CPU is what bounds the pipeline
    jvm_options: str = "-XX:+UseSerialGC -XX:TieredStopAtLevel=1"
    job_timeout_s: float = Field(default=120.0, gt=0)
    # a job is announced converting (conversion.started) once a JVM has had it this long; a
    # quicker conversion goes from queued to its outcome, with a write and a notice fewer
    started_after_s: float = Field(default=STARTED_AFTER_S, ge=0)
    # a job whose worker dies (killed, OOM-killed, evicted) goes to another worker; a file
    # that takes down this many workers in a row fails as `crashed`. The same bound holds
    # across deliveries: a job that was converting while its converter process died this
    # many times (evicted, OOM-killed) fails as `crashed` when it is delivered again
    max_crashes: int = Field(default=2, ge=1)
    max_source_bytes: int = 100 * 1024 * 1024
    # what a zip source may unpack to, counted before MPXJ unpacks it (docs/security.md)
    archive_max_entries: int = Field(default=1000, ge=1)
    archive_max_bytes: int = Field(default=256 * 1024 * 1024, ge=1)
    # disk a job's JVM may fill (its temporary folder and output) before it is stopped
    job_disk_bytes: int = Field(default=1024 * 1024 * 1024, ge=1024 * 1024)
    work_dir: str = "/tmp/converter"

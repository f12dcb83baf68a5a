"""The Slurm profile, on a real one-node Slurm cluster started on this machine.

`snakemake --profile slurm` at the repository root finds ./slurm (a link to workflow/profiles/slurm), which
selects the paper preset and the slurm executor. The cluster test installs Debian's slurmctld, slurmd and munge
(when missing), starts them for a one-node cluster on localhost (no accounting, so the executor polls with
squeue), runs a few jobs of the `test` preset through sbatch and stops the daemons again. It needs root (the
daemons, apt-get, /etc/slurm/slurm.conf) and skips with the reason where it cannot run.

Why /etc/slurm/slurm.conf and not $SLURM_CONF: inside each job, the executor's job step
(snakemake-executor-plugin-slurm-jobstep) removes every SLURM_* variable before it calls srun, so srun only
finds the configuration at its default path. The file is written only when none exists and removed afterwards.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from sslmem.artifacts import preset_root

REPO = Path(__file__).resolve().parents[1]
FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz")
SLURM_CONF = Path("/etc/slurm/slurm.conf")
LOCK = Path("/tmp/sslmem-test-slurm.lock")  # one test cluster per machine at a time
MARKER = "# written by sslmem tests/test_slurm.py"
PARTITION = "sslmemtest"
SLURM_PACKAGES = ["slurmctld", "slurmd", "slurm-client", "munge"]
SLURM_TOOLS = ["slurmctld", "slurmd", "munged", "sbatch", "squeue", "sinfo", "srun", "scancel"]

pytestmark = pytest.mark.slurm


def venv_env(**extra: str) -> dict[str, str]:
    """This environment with the virtual environment's bin first: jobs call `sslmem` and `snakemake` from PATH."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLURM_")}
    env["PATH"] = f"{Path(sys.executable).parent}:{env['PATH']}"
    env.update(extra)
    return env


def copy_workflow(dest: Path) -> Path:
    """The workflow in a temporary directory, with the root-level `slurm` and `profiles` links as in the repository."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in ("Snakefile", "params.yaml"):
        shutil.copy(REPO / name, dest / name)
    for name in ("workflow", "scripts"):
        shutil.copytree(REPO / name, dest / name, ignore=shutil.ignore_patterns("__pycache__"))
    os.symlink(os.readlink(REPO / "slurm"), dest / "slurm")
    os.symlink(os.readlink(REPO / "profiles"), dest / "profiles")  # the workflow profile, applied on top
    return dest


# --- the profile (no cluster needed) ------------------------------------------------------------------------


def test_root_level_slurm_entry_is_the_profile():
    link = REPO / "slurm"
    assert link.is_symlink() and os.readlink(link) == "workflow/profiles/slurm"
    assert (link / "config.yaml").is_file()


def test_slurm_profile_settings():
    profile = yaml.safe_load((REPO / "workflow/profiles/slurm/config.yaml").read_text())
    default = yaml.safe_load((REPO / "workflow/profiles/default/config.yaml").read_text())
    assert profile["executor"] == "slurm"
    assert profile["config"] == {"preset": "paper"}
    # The workflow profile (default) is applied on top of --profile slurm: the rerun triggers come from there,
    # and the slurm profile must not set what the workflow profile would override.
    assert "mtime" not in default["rerun-triggers"] and default["rerun-incomplete"] is True
    assert not {"rerun-triggers", "rerun-incomplete", "printshellcmds"} & set(profile)
    assert profile["retries"] >= 1 and profile["keep-going"] is True and profile["latency-wait"] >= 60


def test_profile_is_found_from_the_root_and_gives_the_paper_jobs_gpu_resources(tmp_path):
    """`snakemake --profile slurm -n results/table1.csv` at the root: the paper preset's jobs, GPU resources."""
    workdir = copy_workflow(tmp_path / "wf")
    result = subprocess.run(
        ["snakemake", "--profile", "slurm", "-n", "results/table1.csv"],
        cwd=workdir,
        env=venv_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    out = result.stdout + result.stderr
    assert result.returncode == 0, out[-4000:]
    assert "Using profiles slurm and workflow specific profile profiles/default for setting default command line" in out
    assert "--preset paper train --dataset cifar10" in out and "--preset default" not in out
    train = out[out.index("rule train:") :]
    train = train[: train.index("Shell command")]
    assert "gpu=1" in train and "runtime=1440" in train, train


# --- a one-node Slurm cluster -------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def install_slurm() -> str | None:
    """Install the Slurm daemons and munge with apt-get where missing; the reason it cannot, or None."""
    if all(shutil.which(tool) for tool in SLURM_TOOLS):
        return None
    if not shutil.which("apt-get"):
        return "Slurm is not installed and apt-get is not available"
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    install = ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *SLURM_PACKAGES]
    if subprocess.run(install, env=env, capture_output=True).returncode != 0:
        subprocess.run(["apt-get", "update", "-qq"], env=env, capture_output=True)
        result = subprocess.run(install, env=env, capture_output=True, text=True)
        if result.returncode != 0:
            return f"apt-get install {' '.join(SLURM_PACKAGES)} failed: {result.stderr[-500:]}"
    missing = [tool for tool in SLURM_TOOLS if not shutil.which(tool)]
    return f"installed Slurm lacks {missing}" if missing else None


def slurm_conf(root: Path, ctld_port: int, slurmd_port: int) -> str:
    with open("/proc/meminfo") as meminfo:
        total_mb = int(meminfo.readline().split()[1]) // 1024
    real_memory = max(2048, total_mb - max(1024, total_mb // 10))  # what slurmd sees, minus a margin
    cpus = min(2, os.cpu_count() or 1)
    return f"""{MARKER} for a one-node test cluster; removed when the test ends.
ClusterName=sslmemtest
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort={ctld_port}
SlurmdPort={slurmd_port}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={root}/munge/munge.sock
StateSaveLocation={root}/state
SlurmdSpoolDir={root}/spool
SlurmctldPidFile={root}/slurmctld.pid
SlurmdPidFile={root}/slurmd.pid
SlurmctldLogFile={root}/slurmctld.log
SlurmdLogFile={root}/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SwitchType=switch/none
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU_Memory
ReturnToService=2
# squeue reports finished jobs for MinJobAge seconds; the executor polls with squeue (no accounting).
MinJobAge=600
NodeName=localhost NodeAddr=127.0.0.1 CPUs={cpus} RealMemory={real_memory} State=UNKNOWN
PartitionName={PARTITION} Nodes=localhost Default=YES MaxTime=INFINITE State=UP
"""


def stop(process: subprocess.Popen | None) -> None:
    if process is not None and process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait_for_lock(lock, timeout: float) -> bool:
    """Take the machine-wide test-cluster lock, waiting for another test session that holds it."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if time.monotonic() > deadline:
                return False
            time.sleep(5)


@pytest.fixture(scope="module")
def slurm_cluster(tmp_path_factory):
    """munged, slurmctld and slurmd in the foreground (this process's children), stopped at teardown."""
    if sys.platform != "linux" or os.geteuid() != 0:
        pytest.skip("the Slurm cluster test runs as root on Linux (daemons, apt-get, /etc/slurm)")
    with open(LOCK, "w") as lock:  # closing the file releases the lock
        if not wait_for_lock(lock, timeout=1800):
            pytest.skip(f"another test session's Slurm cluster held {LOCK} for 30 minutes")
        reason = install_slurm()
        if reason:
            pytest.skip(reason)
        if SLURM_CONF.exists() and MARKER not in SLURM_CONF.read_text():
            pytest.skip(f"{SLURM_CONF} exists (a real Slurm setup?); not replacing it")
        yield from run_cluster(tmp_path_factory.mktemp("slurm"))


def run_cluster(root: Path):
    for sub in ("munge", "state", "spool"):
        (root / sub).mkdir()
    munge_dir = root / "munge"
    munge_dir.chmod(0o711)
    key = munge_dir / "munge.key"
    key.write_bytes(os.urandom(1024))
    key.chmod(0o400)

    def logs() -> str:
        text = []
        for path in (munge_dir / "munged.log", root / "slurmctld.log", root / "slurmd.log"):
            if path.exists():
                text.append(f"--- {path.name}\n{path.read_text()[-2000:]}")
        return "\n".join(text)

    daemons: list[subprocess.Popen] = []
    wrote_conf = False
    try:
        daemons.append(
            subprocess.Popen(
                [
                    "munged",
                    "--foreground",
                    "--force",
                    f"--socket={munge_dir}/munge.sock",
                    f"--key-file={key}",
                    f"--log-file={munge_dir}/munged.log",
                    f"--pid-file={munge_dir}/munged.pid",
                    f"--seed-file={munge_dir}/munged.seed",
                ]
            )
        )
        deadline = time.monotonic() + 30
        while not (munge_dir / "munge.sock").exists():
            if time.monotonic() > deadline or daemons[-1].poll() is not None:
                pytest.fail(f"munged did not start\n{logs()}")
            time.sleep(0.2)

        SLURM_CONF.parent.mkdir(parents=True, exist_ok=True)
        SLURM_CONF.write_text(slurm_conf(root, free_port(), free_port()))
        wrote_conf = True
        daemons.append(subprocess.Popen(["slurmctld", "-D", "-f", str(SLURM_CONF)]))
        time.sleep(1)
        daemons.append(subprocess.Popen(["slurmd", "-D", "-f", str(SLURM_CONF), "-N", "localhost"]))

        deadline = time.monotonic() + 90
        while True:
            result = subprocess.run(["sinfo", "-h", "-N", "-o", "%t"], capture_output=True, text=True)
            if result.stdout.strip() == "idle":
                break
            if time.monotonic() > deadline or any(d.poll() is not None for d in daemons):
                pytest.fail(f"the node did not become idle (sinfo: {result.stdout!r} {result.stderr})\n{logs()}")
            time.sleep(1)
        yield {"partition": PARTITION, "root": root, "logs": logs}
    finally:
        if wrote_conf:
            subprocess.run(["scancel", "--partition", PARTITION], capture_output=True)
        for daemon in reversed(daemons):
            stop(daemon)
        if wrote_conf and SLURM_CONF.exists() and MARKER in SLURM_CONF.read_text():
            SLURM_CONF.unlink()


TEST_PROFILE = f"""# The test cluster's settings over the slurm profile (a later --profile replaces top-level keys).
config:
  preset: test
jobs: 2
default-resources:
  slurm_partition: {PARTITION}   # no slurm_account: the plugin would check it with sacctmgr (no accounting here)
  mem_mb: 1000
  runtime: 20
set-resources:                  # the rules ask for up to 32 GB; the test preset needs far less
  split: {{mem_mb: 1000}}
  train: {{mem_mb: 1500}}
  align: {{mem_mb: 1500}}
  probe: {{mem_mb: 1500}}
latency-wait: 5
slurm-status-command: squeue    # no accounting: sacct answers "Slurm accounting storage is disabled"
slurm-init-seconds-before-status-checks: 2
"""

TARGETS = [
    "results/align/fashion_mnist/simclr-resnet18/f0.parquet",
    "results/probe/fashion_mnist/simclr-resnet18/f0.csv",
]


def run_on_slurm(command: list[str], workdir: Path, cluster: dict, **env: str) -> str:
    try:
        result = subprocess.run(command, cwd=workdir, env=venv_env(**env), capture_output=True, text=True, timeout=1500)
    except subprocess.TimeoutExpired as error:
        pytest.fail(f"{' '.join(command)} timed out on Slurm\n{error.stdout}\n{error.stderr}\n{cluster['logs']()}")
    out = result.stdout + result.stderr
    assert result.returncode == 0, f"{' '.join(command)} failed\n{out[-6000:]}\n{cluster['logs']()}"
    assert "Falling back to 'sacct'" not in out  # polled with squeue
    return out


@pytest.mark.skipif(not FASHION_MNIST.exists(), reason="Fashion-MNIST not installed (scripts/setup.sh)")
def test_workflow_runs_through_sbatch(slurm_cluster, tmp_path):
    """split → train → align and probe of one encoder, each a Slurm job, with the repository's slurm profile;
    then one job again through scripts/snake.sh (what the DVC stages run) with SSLMEM_PROFILE."""
    workdir = copy_workflow(tmp_path / "wf")
    params = (workdir / "params.yaml").read_text()  # the preset DVC would record, for the scripts/snake.sh step
    (workdir / "params.yaml").write_text(params.replace("\npreset: default\n", "\npreset: test\n"))
    overrides = tmp_path / "test-profile"
    overrides.mkdir()
    (overrides / "config.yaml").write_text(TEST_PROFILE)
    command = ["snakemake", "--profile", "slurm", "--profile", str(overrides), *TARGETS]
    out = run_on_slurm(command, workdir, slurm_cluster)

    # Four jobs went through sbatch (split, train, align, probe) and ran in the test cluster's partition.
    assert out.count("has been submitted with SLURM jobid") == 4, out[-4000:]
    jobs = subprocess.run(
        ["squeue", "--states=all", "--noheader", "--format=%i|%T|%P"], capture_output=True, text=True, check=True
    ).stdout.split()
    assert len(jobs) == 4 and all(line.endswith(f"|COMPLETED|{PARTITION}") for line in jobs), jobs

    built = workdir / preset_root("test")  # the test preset works in runs/test/
    for target in TARGETS:
        assert (built / target).is_file() and (built / target).stat().st_size > 0, target
    assert (built / "results/checkpoints/fashion_mnist/simclr-resnet18/f0.pt").is_file()
    assert not (workdir / "results/checkpoints").exists()  # nothing of the test preset at the top
    import pandas as pd

    align = pd.read_parquet(built / TARGETS[0])
    assert len(align) == 80 and align["align"].between(0, 2).all()  # 20 points of each of S_C, S_S, S_I, S_E
    probe = pd.read_csv(built / TARGETS[1])
    assert probe.top1.between(0, 1).all()

    again = run_on_slurm([*command, "-n"], workdir, slurm_cluster)
    assert "Nothing to be done" in again

    # The DVC stage command, unchanged, on Slurm: SSLMEM_PROFILE names a profile folder (here the slurm profile
    # with the test cluster's settings over it, merged as Snakemake merges two --profile entries).
    combined = tmp_path / "combined-profile"
    combined.mkdir()
    settings = yaml.safe_load((workdir / "slurm" / "config.yaml").read_text())
    settings.update(yaml.safe_load(TEST_PROFILE))
    (combined / "config.yaml").write_text(yaml.safe_dump(settings))
    (built / TARGETS[1]).unlink()
    out = run_on_slurm(["bash", "scripts/snake.sh", TARGETS[1]], workdir, slurm_cluster, SSLMEM_PROFILE=str(combined))
    assert out.count("has been submitted with SLURM jobid") == 1 and "rule probe:" in out, out[-4000:]
    assert (built / TARGETS[1]).is_file()

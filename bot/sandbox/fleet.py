"""The demo fleet: enough variety for every command to have something to show."""

from __future__ import annotations

from bot.sandbox.github_double import GitHubDouble, RunnerSpec

# (name, os, status, busy, custom labels) for the 14 runners of org acme.
ACME_RUNNERS: tuple[tuple[str, str, str, bool, tuple[str, ...]], ...] = (
    ("acme-linux-01", "Linux", "online", True, ("docker", "build")),
    ("acme-linux-02", "Linux", "online", False, ("docker", "build")),
    ("acme-linux-03", "Linux", "online", False, ("docker",)),
    ("acme-linux-04", "Linux", "offline", False, ("docker", "build")),
    ("acme-linux-05", "Linux", "online", True, ("deploy",)),
    ("acme-linux-06", "Linux", "online", False, ("deploy",)),
    ("acme-gpu-01", "Linux", "online", True, ("gpu", "docker")),
    ("acme-gpu-02", "Linux", "online", False, ("gpu", "docker")),
    ("acme-gpu-03", "Linux", "offline", False, ("gpu",)),
    ("acme-arm-01", "Linux", "online", False, ("arm64", "build")),
    ("acme-arm-02", "Linux", "offline", False, ("arm64",)),
    ("acme-mac-01", "macOS", "online", True, ("arm64", "build")),
    ("acme-mac-02", "macOS", "online", False, ("arm64",)),
    ("acme-win-01", "Windows", "offline", False, ("build",)),
)

API_RUNNERS: tuple[tuple[str, str, str, bool, tuple[str, ...]], ...] = (
    ("api-linux-01", "Linux", "online", True, ("docker",)),
    ("api-linux-02", "Linux", "online", False, ("docker",)),
    ("api-mac-01", "macOS", "offline", False, ()),
)

ENTERPRISE_RUNNERS: tuple[tuple[str, str, str, bool, tuple[str, ...]], ...] = (
    ("ent-linux-01", "Linux", "online", False, ("shared", "docker")),
    ("ent-linux-02", "Linux", "online", True, ("shared", "docker")),
    ("ent-win-01", "Windows", "online", False, ("shared",)),
    ("ent-mac-01", "macOS", "offline", False, ("shared", "arm64")),
)


def demo_arch(os: str, labels: tuple[str, ...]) -> str:
    """The architecture a demo runner reports (GitHub's ``ARM64`` label): the arm64 pool
    and the Macs (Apple silicon) are ARM64, the rest X64."""
    return "ARM64" if os == "macOS" or "arm64" in labels else "X64"


def seed_demo(double: GitHubDouble) -> None:
    """Seed org ``acme`` (installed), repos ``acme/api`` and ``acme/web``, org ``globex``
    (app not installed) and enterprise ``octo-ent``; same ids on every run."""
    double.add_org("acme")
    double.add_repo("acme", "api")
    double.add_repo("acme", "web")
    double.add_installation("acme")
    double.add_org("globex")
    double.add_repo("globex", "site")
    double.add_enterprise("octo-ent")
    # The deploy runners sit in a group only acme/api may use: a deploy job of acme/web
    # waits for a runner it is not allowed (the watch's ``group_not_allowed``).
    deploy = double.add_runner_group(
        "/orgs/acme", "deploy", visibility="selected", selected_repositories=["api"]
    )
    for scope_path, runners in (
        ("/orgs/acme", ACME_RUNNERS),
        ("/repos/acme/api", API_RUNNERS),
        ("/enterprises/octo-ent", ENTERPRISE_RUNNERS),
    ):
        for name, os, status, busy, labels in runners:
            double.add_runner(
                scope_path,
                name,
                os=os,
                arch=demo_arch(os, labels),
                status=status,
                busy=busy,
                labels=list(labels),
                ephemeral=name == "acme-linux-06",
                runner_group_id=deploy if "deploy" in labels else None,
            )


# A large fleet's pools: (share of runners, name prefix, os, arch, custom labels). Few label
# sets with many runners each, as real fleets are, so that a list's counts by label set
# say something.
POOLS: tuple[tuple[int, str, str, str, tuple[str, ...]], ...] = (
    (40, "build", "Linux", "X64", ("docker", "build")),
    (20, "gpu", "Linux", "X64", ("gpu",)),
    (15, "arm", "Linux", "ARM64", ("build",)),
    (10, "mac", "macOS", "ARM64", ("xcode",)),
    (10, "win", "Windows", "X64", ("build",)),
    (5, "deploy", "Linux", "X64", ("deploy", "prod")),
)


def generated_fleet(n: int) -> list[RunnerSpec]:
    """``n`` runners spread over :data:`POOLS`, the same on every run: every 13th offline,
    every 3rd busy, names unique and in id order (``gpu-000042``)."""
    wheel = [pool for pool in POOLS for _ in range(pool[0])]
    fleet = []
    for i in range(n):
        _share, prefix, os, arch, labels = wheel[i % len(wheel)]
        offline = i % 13 == 0
        fleet.append(
            RunnerSpec(
                f"{prefix}-{i:06d}",
                os=os,
                arch=arch,
                status="offline" if offline else "online",
                busy=not offline and i % 3 == 0,
                labels=labels,
            )
        )
    return fleet


def seed_generated(double: GitHubDouble, org: str, n: int) -> None:
    """Organization ``org`` (installed) with the :func:`generated_fleet` of ``n`` runners."""
    double.add_org(org)
    double.add_installation(org)
    double.add_runners(f"/orgs/{org}", generated_fleet(n))

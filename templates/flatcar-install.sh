#!/bin/bash
{#- pxebake: the disk-install bootstrap. The image comes from the `install_image` attribute. #}
{%- set image_name = host.attributes.install_image | default(value="") %}
{%- if not image_name or not images[image_name] %}{{ throw(message="host `" ~ host.name ~ "`: set the attribute `install_image` to the image flatcar-install puts on disk (one of the site's `images`), in the site's, the appliance's or the host's `attributes`") }}{% endif %}
{%- set image = images[image_name] %}
# pxebake: install Flatcar {{ image.version }} on {{ host.name }} from this site's own mirror, then
# power off or reboot. Generated; edit templates/flatcar-install.sh, not this file.
set -euo pipefail

DISK={{ host.attributes.install_disk | default(value="/dev/sda") | shell }}
MIRROR={{ (site.http ~ "/images/" ~ image.name) | shell }}
VERSION={{ image.version | shell }}
IGNITION_URL={{ (site.http ~ "/ignition/" ~ host.name ~ ".ign") | shell }}
EVENTS={{ (site.http ~ "/events") | shell }}
HOST={{ host.name | shell }}

# Tell the boot server (its events log, read by `pxebake events` and `set boot --installed-from`).
report() { curl -fsS -m 10 -o /dev/null "${EVENTS}?$1" || echo "pxebake: could not report $1"; }

report "ev=install-start&host=${HOST}"
echo "pxebake: installing Flatcar ${VERSION} on ${DISK} from ${MIRROR}"
curl -fsSL --retry 10 --retry-delay 3 -o /tmp/ignition.ign "${IGNITION_URL}"
# On UEFI, -u creates a boot entry for the disk at the front of BootOrder: the machine boots its
# disk from now on, and PXE (this install) only if the disk is unbootable. With BIOS the site's
# boot order (disk first) or `pxebake set boot {{ host.name }} os` ends the install loop.
# See docs/install-to-disk.md.
uefi=()
if [ -d /sys/firmware/efi ]; then uefi=(-u); fi
# flatcar-install fetches ${MIRROR}/${VERSION}/flatcar_production_image.bin.bz2 and checks its .sig;
# -i writes the host's Ignition config, which runs on the first boot from disk.
flatcar-install -d "${DISK}" -b "${MIRROR}" -V "${VERSION}" -i /tmp/ignition.ign "${uefi[@]}"

echo "pxebake: install of {{ host.name }} finished"
report "ev=installed&host=${HOST}&version=${VERSION}"
systemctl {{ host.attributes.install_finish | default(value="poweroff") | shell }}

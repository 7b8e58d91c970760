#!/bin/bash
{#- pxebake: the disk-install bootstrap. The image comes from the `install_image` attribute. #}
{%- set image = images[host.attributes.install_image] %}
# pxebake: install Flatcar {{ image.version }} on {{ host.name }} from this site's own mirror, then
# power off or reboot. Generated; edit templates/flatcar-install.sh, not this file.
set -euo pipefail

DISK={{ host.attributes.install_disk | default(value="/dev/sda") | shell }}
MIRROR={{ (site.http ~ "/images/" ~ image.name) | shell }}
VERSION={{ image.version | shell }}
CONFIG_URL={{ (site.http ~ "/coreos/" ~ host.name ~ ".yaml") | shell }}

echo "pxebake: installing Flatcar ${VERSION} on ${DISK} from ${MIRROR}"
curl -fsSL --retry 10 --retry-delay 3 -o /tmp/cloud-config.yaml "${CONFIG_URL}"
# flatcar-install fetches ${MIRROR}/${VERSION}/flatcar_production_image.bin.bz2 and checks its .sig.
flatcar-install -d "${DISK}" -b "${MIRROR}" -V "${VERSION}" -c /tmp/cloud-config.yaml

# No install loop: on UEFI, make the installed disk the next boot; with BIOS, the site's boot order
# (disk first) or `pxebake set boot {{ host.name }} os` decides. See docs/install-to-disk.md.
if [ -d /sys/firmware/efi ] && command -v efibootmgr >/dev/null; then
  entry=$(efibootmgr | sed -n 's/^Boot\([0-9A-F]\{4\}\)\* .*[Ff]latcar.*/\1/p' | head -n1)
  if [ -n "${entry}" ]; then efibootmgr --bootnext "${entry}" || true; fi
fi
echo "pxebake: install of {{ host.name }} finished"
systemctl {{ host.attributes.install_finish | default(value="poweroff") | shell }}

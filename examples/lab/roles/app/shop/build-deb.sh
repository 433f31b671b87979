#!/bin/sh
# Builds files/shop_VERSION_all.deb, the package the app/shop role ships (the role must work on a
# host without internet). Run: roles/app/shop/build-deb.sh 7.4.1
set -eu
v="$1"
here=$(cd "$(dirname "$0")" && pwd)
w=$(mktemp -d); trap 'rm -rf "$w"' EXIT
mkdir -p "$w/DEBIAN" "$w/opt/shop/bin" "$w/usr/share/doc/shop"
sed "s/@VERSION@/$v/" "$here/pkg/shop" > "$w/opt/shop/bin/shop"; chmod 0755 "$w/opt/shop/bin/shop"
printf 'shop %s: example application shipped by the shipshape role app/shop\n' "$v" > "$w/usr/share/doc/shop/README"
cat > "$w/DEBIAN/control" <<CTL
Package: shop
Version: $v
Architecture: all
Maintainer: shipshape example <ops@example.com>
Section: misc
Priority: optional
Description: shop example application
 Payload of the app/shop example role.
CTL
SOURCE_DATE_EPOCH=1700000000 dpkg-deb --root-owner-group -Zgzip --build "$w" "$here/files/shop_${v}_all.deb" >/dev/null
echo "$here/files/shop_${v}_all.deb"

#!/bin/sh
# Trims a Debian root (the python base with a service's virtualenv in /app/.venv) down to what
# a service process runs, before deploy/Dockerfile copies it into an image of one layer: no
# package manager, no perl, no login or disk tools, no time zones (the services read none; Java
# has its own), no glibc iconv modules (Python brings its own codecs). dpkg and its database
# stay (with tar and diff, which dpkg insists on), so scanners still see every package left.
# Then checks that every binary and shared library left finds the libraries it links against.
set -eu
export DEBIAN_FRONTEND=noninteractive

installed() {
    for package in "$@"; do
        if dpkg-query -W -f='${Status}\n' "$package" 2>/dev/null | grep -q ' installed$'; then
            echo "$package"
        fi
    done
}

purge() {
    # shellcheck disable=SC2046  # one word per package
    set -- $(installed "$@")
    if [ "$#" -gt 0 ]; then
        dpkg --purge --force-remove-essential --force-depends "$@" >/dev/null
    fi
}

purge apt libapt-pkg6.0 gpgv debian-archive-keyring libgnutls30 libhogweed6 libnettle8 \
    libp11-kit0 libtasn1-6 libidn2-0 libunistring2 libseccomp2 libxxhash0 liblz4-1 \
    libsystemd0 libudev1 libgcrypt20 libgpg-error0 \
    adduser passwd login libpam-modules libpam-modules-bin libpam-runtime libpam0g \
    libsemanage2 libsemanage-common libsepol2 libaudit1 libaudit-common libcap-ng0 libdb5.3 \
    util-linux util-linux-extra mount libmount1 libsmartcols1 libfdisk1 libblkid1 \
    e2fsprogs libext2fs2 libss2 logsave sysvinit-utils bsdutils ncurses-bin hostname \
    findutils tzdata
# their removal scripts use debconf and perl: those go last
purge debconf
purge perl-base

rm -rf /usr/lib/*-linux-gnu/gconv /usr/share/zoneinfo /usr/share/doc /usr/share/man \
    /usr/share/info /usr/share/lintian /usr/share/common-licenses/GPL-* /var/cache/* \
    /var/log/* /var/lib/apt /var/lib/dpkg/*-old /tmp/* /root/.cache
for python in /usr/lib/python3.11 /usr/local/lib/python3.11; do
    rm -rf "$python/lib2to3" "$python/pydoc_data" "$python/ensurepip" "$python/idlelib" \
        "$python/turtledemo" "$python/tkinter" "$python/test" "$python"/config-3.11-*
done

loader=$(ls /lib64/ld-linux-*.so.* /lib/ld-linux-*.so.* 2>/dev/null | head -n 1)
python=$(readlink -f "$(command -v python3)")
missing=$(
    find / -xdev -type f \( -name '*.so' -o -name '*.so.*' \) -print \
        | { cat; echo "$python"; echo /bin/dash; echo /bin/sleep; } \
        | while read -r file; do "$loader" --list "$file" 2>/dev/null | sed "s|^|$file: |"; done \
        | grep 'not found' || true
)
if [ -n "$missing" ]; then
    echo "slim-root: libraries missing after the trim:" >&2
    echo "$missing" >&2
    exit 1
fi

# shipshape answer file for {{fqdn}} (Debian {{release}}). Rendered for one installation and deleted
# when it ends: it may hold the root password hash. Every substituted value is checked and escaped by shipshape.
d-i debian-installer/locale string en_US.UTF-8
d-i keyboard-configuration/xkb-keymap select us
d-i netcfg/choose_interface select auto
d-i netcfg/get_hostname string {{hostname}}
d-i netcfg/get_domain string {{domain}}
d-i netcfg/hostname string {{hostname}}
{{#if static}}
d-i netcfg/disable_autoconfig boolean true
d-i netcfg/get_ipaddress string {{ip}}
d-i netcfg/get_netmask string {{netmask}}
d-i netcfg/get_gateway string {{gateway}}
d-i netcfg/get_nameservers string {{nameservers}}
d-i netcfg/confirm_static boolean true
{{/if}}
d-i mirror/country string manual
d-i mirror/protocol string {{mirrorProtocol}}
d-i mirror/http/hostname string {{mirrorHost}}
d-i mirror/http/directory string {{mirrorDirectory}}
d-i mirror/http/proxy string
d-i apt-setup/non-free-firmware boolean true
d-i passwd/make-user boolean false
d-i passwd/root-login boolean true
{{#if rootPasswordHash}}
d-i passwd/root-password-crypted password {{rootPasswordHash}}
{{else}}
d-i passwd/root-password-crypted password !
{{/if}}
d-i clock-setup/utc boolean true
d-i time/zone string {{timezone}}
d-i clock-setup/ntp boolean true
d-i partman-auto/disk string /dev/{{bootDisk}}
d-i partman-auto/method string regular
d-i partman-auto/expert_recipe string boot-root :: 1024 1024 1024 ext4 $primary{ } $bootable{ } method{ format } format{ } use_filesystem{ } filesystem{ ext4 } mountpoint{ /boot } . {{swapMiB}} {{swapMiB}} {{swapMiB}} linux-swap method{ swap } format{ } . 4096 8192 -1 ext4 method{ format } format{ } use_filesystem{ } filesystem{ ext4 } mountpoint{ / } .
d-i partman-auto/choose_recipe select boot-root
d-i partman-lvm/device_remove_lvm boolean true
d-i partman-md/device_remove_md boolean true
d-i partman-partitioning/confirm_write_new_label boolean true
d-i partman/choose_partition select finish
d-i partman/confirm boolean true
d-i partman/confirm_nooverwrite boolean true
tasksel tasksel/first multiselect standard, ssh-server
d-i pkgsel/include string {{packages}}
d-i pkgsel/upgrade select none
popularity-contest popularity-contest/participate boolean false
d-i grub-installer/only_debian boolean true
d-i grub-installer/bootdev string /dev/{{bootDisk}}
# Progress, then a watcher that posts the installer's log if a step fails (busybox wget in d-i).
d-i preseed/early_command string wget -q -O /dev/null --post-data=installing {{progressUrl}} || true; (while sleep 15; do if grep -q 'Installation step failed' /var/log/syslog; then wget -q -O /dev/null --post-file=/var/log/syslog {{failedUrl}}; break; fi; done) </dev/null >/dev/null 2>&1 &
d-i preseed/late_command string mkdir -p /target/root/.ssh; echo '{{sshKey}}' > /target/root/.ssh/authorized_keys; chmod 700 /target/root/.ssh; chmod 600 /target/root/.ssh/authorized_keys; wget -q -O /dev/null --post-file=/target/etc/ssh/ssh_host_ed25519_key.pub {{builtUrl}}
d-i finish-install/reboot_in_progress note

# shipshape answer file for {{fqdn}} (Rocky Linux / RHEL {{release}}). Rendered for one installation and
# deleted when it ends: it may hold the root password hash. Every substituted value is checked and escaped by shipshape.
text
url --url={{mirrorUrl}}
lang en_US.UTF-8
keyboard --vckeymap=us
timezone {{timezone}} --utc
{{#if static}}
network --bootproto=static --ip={{ip}} --netmask={{netmask}} --gateway={{gateway}} --nameserver={{nameserversComma}} --hostname={{fqdn}} --activate
{{else}}
network --bootproto=dhcp --hostname={{fqdn}} --activate
{{/if}}
{{#if rootPasswordHash}}
rootpw --iscrypted {{rootPasswordHash}}
{{else}}
rootpw --lock
{{/if}}
sshkey --username=root "{{sshKey}}"
firewall --enabled --service=ssh
selinux --enforcing
firstboot --disabled
ignoredisk --only-use={{bootDisk}}
zerombr
clearpart --all --initlabel --drives={{bootDisk}}
bootloader --location=mbr --boot-drive={{bootDisk}}
part /boot --fstype=xfs --size=1024 --ondisk={{bootDisk}}
part swap --size={{swapMiB}} --ondisk={{bootDisk}}
part / --fstype=xfs --size=4096 --grow --ondisk={{bootDisk}}
reboot

%packages
{{packageLines}}
%end

%pre
curl -fsS -m 10 -X POST -d installing {{progressUrl}} || true
%end

%onerror
curl -fsS -m 30 -X POST --data-binary @/tmp/anaconda.log {{failedUrl}} || true
%end

%post
# Host keys now, not at first boot, so `built` can report the key specialisation will pin.
/usr/bin/ssh-keygen -A
%end

%post --nochroot
curl -fsS -m 30 -X POST --data-binary @/mnt/sysimage/etc/ssh/ssh_host_ed25519_key.pub {{builtUrl}}
%end

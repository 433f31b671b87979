// Spawned by QEMU (guestfwd … cmd:) once per guest TCP connection: joins the guest's stream to the
// provisioning server on the host's loopback. The guest reaches nothing else (netdev restrict=on).
const net = require('net');
const s = net.connect(Number(process.argv[2]), '127.0.0.1');
process.stdin.pipe(s);
s.pipe(process.stdout);
s.on('error', () => process.exit(1));
s.on('close', () => process.exit(0));
process.stdin.on('end', () => s.end());

/** /healthz and /metrics pass the redaction layer: a failed fetch of a --repo URL with credentials shows neither. */
import { clearSecrets, registerSecret } from '../redact';
import { startServeHttp } from './http';

afterAll(() => clearSecrets());

it('/healthz and /metrics never carry URL userinfo or a resolved secret', async () => {
  registerSecret('vc-Passw0rd!');
  const h = await startServeHttp({
    listen: '127.0.0.1:0',
    metrics: () => 'shipshape_runs_total{error="login vc-Passw0rd! rejected"} 1\n',
    health: () => ({
      busy: false,
      last: { result: 'failed', error: 'cannot fetch https://alice:glpat-XYZ123456@git.example.com/infra.git: 403' },
    }),
  });
  try {
    const health = await (await fetch(`${h.url}/healthz`)).text();
    const metrics = await (await fetch(`${h.url}/metrics`)).text();
    expect(health).toContain('https://[redacted]@git.example.com/infra.git');
    expect(health).not.toContain('glpat-XYZ123456');
    expect(health).not.toContain('alice');
    expect(metrics).not.toContain('vc-Passw0rd!');
  } finally {
    await h.close();
  }
});

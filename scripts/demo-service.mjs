// A stand-in for the sample service's proxy in scripts/demo-recover.mjs (no Docker here): it serves
// /health on SERVICE_PORT, healthy only while its credential file is valid JSON with a key.
import { readFile, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';

const server = createServer(async (_request, response) => {
  try {
    const credential = JSON.parse(await readFile('credentials/anthropic.credentials.json', 'utf8'));
    if (!credential || typeof credential !== 'object') throw new Error('no credential');
    response.writeHead(200).end('ok');
  } catch (error) {
    response.writeHead(503).end(String(error));
  }
});
server.listen(Number(process.env.SERVICE_PORT), '127.0.0.1', () =>
  writeFile('service.pid', String(process.pid)),
);
process.on('SIGTERM', () => server.close(() => process.exit(0)));

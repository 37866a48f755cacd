import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ago, bytes, duration, joinCommand, parseEnvironment, parsePorts, parsePrograms, programsText, splitCommand } from './format.ts';

describe('the dashboard reads the create form as a shell and Docker would', () => {
  it('splits a command line with quotes and escapes, and joins words back to the same line', () => {
    assert.deepEqual(splitCommand(`sh -c 'echo "a b"; exit 3'`), ['sh', '-c', 'echo "a b"; exit 3']);
    assert.deepEqual(splitCommand(`echo "it's" a\\ b ''`), ['echo', "it's", 'a b', '']);
    assert.deepEqual(splitCommand('  sleep   10 '), ['sleep', '10']);
    assert.throws(() => splitCommand(`echo 'open`), /unclosed ' quote/);
    for (const words of [['sh', '-c', `echo 'x' "y" $HOME`], ['a b', '', "it's"], ['sleep', 'infinity']]) assert.deepEqual(splitCommand(joinCommand(words)), words);
  });

  it('reads NAME=value lines, keeping = and spaces in values, and refuses a line without =', () => {
    assert.deepEqual(parseEnvironment('A=1\n\n# comment\nB = x=y \r\nEMPTY='), { A: '1', B: ' x=y ', EMPTY: '' });
    assert.throws(() => parseEnvironment('A=1\nnope'), /line 2/);
  });

  it('reads published ports as Docker writes them', () => {
    assert.deepEqual(parsePorts('8080:80, 53/udp 127.0.0.1:9000:9000/tcp'), [
      { container_port: 80, host_port: 8080 },
      { container_port: 53, protocol: 'udp' },
      { container_port: 9000, host_port: 9000, protocol: 'tcp', host_ip: '127.0.0.1' },
    ]);
    assert.deepEqual(parsePorts(''), []);
    assert.throws(() => parsePorts('80:http'), /port "80:http"/);
  });

  it('reads programs as name:port, with an index and public when asked, and writes them back the same', () => {
    assert.deepEqual(parsePrograms('web:8080, api:3000:public my-app.2:81'), [
      { name: 'web', port: 8080 },
      { name: 'api', port: 3000, public: true },
      { name: 'my-app', port: 81, index: 2 },
    ]);
    assert.throws(() => parsePrograms('Web:80'), /program "Web:80"/);
    const shown = [
      { name: 'web', port: 80, index: 2, public: false },
      { name: 'api', port: 3000, index: 1, public: true },
    ];
    assert.equal(programsText(shown), 'web.2:80, api:3000:public');
    assert.deepEqual(parsePrograms(programsText(shown)), [
      { name: 'web', port: 80, index: 2 },
      { name: 'api', port: 3000, public: true },
    ]);
  });

  it('writes sizes and durations for people', () => {
    assert.equal(bytes(512), '512 B');
    assert.equal(bytes(1536), '1.5 KiB');
    assert.equal(bytes(300 * 1024 * 1024), '300 MiB');
    assert.equal(bytes(null), '—');
    assert.equal(duration(42), '42 ms');
    assert.equal(duration(2500), '2.5 s');
    assert.equal(duration(125_000), '2 min 5 s');
    assert.equal(ago(new Date(1_000_000).toISOString(), 1_000_000 + 3 * 60_000 + 5000), '3 min ago');
  });
});

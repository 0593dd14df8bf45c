/**
 * Reading the server name (SNI, RFC 6066 §3) from a TLS ClientHello before
 * the handshake starts, so the leaf certificate for that name is ready when
 * the TLS server needs it. (Deno's node:tls does not complete a handshake
 * whose SNICallback answers asynchronously.)
 *
 * @module
 */

/** Bytes of the first TLS record needed to read the ClientHello, or -1 if `bytes` is not TLS. */
export function firstRecordLength(bytes: Uint8Array): number {
  if (bytes.length < 5) return 5;
  if (bytes[0] !== 0x16 || bytes[1] !== 0x03) return -1;
  return 5 + ((bytes[3]! << 8) | bytes[4]!);
}

/**
 * The host name a ClientHello asks for, from its first record; undefined when
 * it sends none (or the record cannot be read as a ClientHello).
 */
export function serverName(record: Uint8Array): string | undefined {
  let p = 5; // record header
  const need = (n: number) => p + n <= record.length;
  const u8 = () => record[p++]!;
  const u16 = () => (record[p++]! << 8) | record[p++]!;
  if (!need(4) || u8() !== 0x01) return undefined; // handshake type: ClientHello
  p += 3; // handshake length
  p += 2 + 32; // client_version, random
  if (!need(1)) return undefined;
  p += 1 + record[p]!; // session_id
  if (!need(2)) return undefined;
  p += 2 + ((record[p]! << 8) | record[p + 1]!); // cipher_suites
  if (!need(1)) return undefined;
  p += 1 + record[p]!; // compression_methods
  if (!need(2)) return undefined;
  const end = Math.min(record.length, p + 2 + ((record[p]! << 8) | record[p + 1]!));
  p += 2;
  while (p + 4 <= end) {
    const type = u16(), length = u16();
    if (type !== 0x0000) {
      p += length;
      continue;
    }
    // server_name_list: length, then entries of (type, length, name)
    p += 2;
    while (p + 3 <= end) {
      const nameType = u8(), nameLength = u16();
      if (p + nameLength > end) return undefined;
      if (nameType === 0) {
        const name = String.fromCharCode(...record.subarray(p, p + nameLength));
        return /^[a-zA-Z0-9.-]+$/.test(name) ? name.toLowerCase() : undefined;
      }
      p += nameLength;
    }
    return undefined;
  }
  return undefined;
}

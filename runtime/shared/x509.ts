// @peculiar/x509 needs reflect-metadata loaded before it and a WebCrypto provider; every
// runtime module imports X.509 support from here so both happen exactly once.
import "reflect-metadata";
import { webcrypto } from "node:crypto";
import * as x509 from "@peculiar/x509";

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

export { x509 };

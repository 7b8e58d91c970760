//! OpenPGP verification of image files against a pinned key file, and their SHA-512.
//!
//! The rules are sequoia's `DetachedVerifier`'s, applied by hand so that one pass over a
//! 400 MB initrd computes both the signature's digest and the lock's SHA-512: when the
//! signature hashes with SHA-512 (Flatcar's do) the two are the same computation and the
//! file is hashed once. The signing key is judged at the signature's creation time, as gpg
//! does: a subkey that has since expired still vouches for what it signed while it was
//! valid; a signature made after it expired, or by a revoked key, fails.

use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use anyhow::{bail, Context as _};
use sequoia_openpgp as openpgp;

use openpgp::cert::prelude::*;
use openpgp::crypto::hash::Context;
use openpgp::packet::{key, Key, Signature};
use openpgp::parse::{PacketParser, PacketParserResult, Parse as _};
use openpgp::policy::{HashAlgoSecurity, Policy as _, StandardPolicy};
use openpgp::types::{HashAlgorithm, RevocationStatus, SignatureType};
use openpgp::{Fingerprint, Packet};
use sha2::Digest as _;

use super::time;

/// Warn when the newest signing key expires within this long.
pub const EXPIRY_WARNING: Duration = Duration::from_secs(90 * 86_400);

/// The Flatcar image signing key's primary fingerprint, to point its users at the right URL.
const FLATCAR: &str = "F88CFEDEFF29A5B4D9523864E25D9AED0593B34A";
const FLATCAR_KEY_URL: &str = "https://www.flatcar.org/security/image-signing-key/Flatcar_Image_Signing_Key.asc";

/// The certificates of one key file, with the policy they are judged by.
pub struct Keyring {
    pub path: PathBuf,
    pub certs: Vec<Cert>,
    policy: StandardPolicy<'static>,
    /// Set when the image opted into judging SHA-1 self-signatures as of this date.
    pub insecure_before: Option<SystemTime>,
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Keyring({}, {})", self.path.display(), self.fingerprints())
    }
}

impl Keyring {
    /// Reads an armored or binary key file and checks every certificate against the policy.
    /// `image` and `insecure_sha1_key_before` come from the inventory.
    pub fn load(path: &Path, image: &str, insecure_sha1_key_before: Option<&str>) -> anyhow::Result<Keyring> {
        let bytes = std::fs::read(path).with_context(|| format!("cannot read key file `{}`", path.display()))?;
        Self::from_bytes(path, &bytes, image, insecure_sha1_key_before)
    }

    pub fn from_bytes(
        path: &Path,
        bytes: &[u8],
        image: &str,
        insecure_sha1_key_before: Option<&str>,
    ) -> anyhow::Result<Keyring> {
        let shown = path.display();
        let certs: Vec<Cert> = CertParser::from_bytes(bytes)
            .and_then(|p| p.collect::<openpgp::Result<Vec<Cert>>>())
            .map_err(|e| {
                anyhow::anyhow!(
                    "key file `{shown}` of image `{image}` is not an OpenPGP certificate ({e}); it must hold the publisher's public key, armored (`-----BEGIN PGP PUBLIC KEY BLOCK-----`) or binary"
                )
            })?;
        if certs.is_empty() {
            bail!("key file `{shown}` of image `{image}` holds no OpenPGP certificate; put the publisher's public key in it");
        }
        let insecure_before = match insecure_sha1_key_before {
            None => None,
            Some(d) => Some(time::parse_date(d).with_context(|| {
                format!("image `{image}`: `insecure_sha1_key_before: {d}` is not a date like `2023-01-01`")
            })?),
        };
        let policy = match insecure_before {
            Some(t) => StandardPolicy::at(t),
            None => StandardPolicy::new(),
        };
        for cert in &certs {
            if let Err(e) = cert.with_policy(&policy, None) {
                let fpr = cert.fingerprint();
                if insecure_before.is_none() && uses_sha1(cert) {
                    bail!(
                        "key `{fpr}` in `{shown}` (image `{image}`) is refused: its self-signatures use SHA-1, which today's OpenPGP policy rejects because SHA-1 collisions can be forged (sequoia: {e}). \
                         This is the archived CoreOS key; CoreOS Container Linux is end-of-life, so switch the image to Flatcar and its key. \
                         To verify archived images anyway, set `insecure_sha1_key_before: \"2023-01-01\"` on image `{image}` - an explicit opt-in to a weaker check"
                    );
                }
                bail!("key `{fpr}` in `{shown}` (image `{image}`) is not valid under the OpenPGP policy: {e}; replace the key file with the publisher's current key");
            }
        }
        Ok(Keyring { path: path.to_path_buf(), certs, policy, insecure_before })
    }

    /// The primary fingerprints, for messages: `F88C... (Flatcar Buildbot ...)`.
    pub fn fingerprints(&self) -> String {
        let all: Vec<String> = self
            .certs
            .iter()
            .map(|c| {
                let uid = c.userids().next().map(|u| String::from_utf8_lossy(u.userid().value()).into_owned());
                match uid {
                    Some(u) => format!("{} ({u})", c.fingerprint()),
                    None => c.fingerprint().to_string(),
                }
            })
            .collect();
        all.join(", ")
    }

    /// A warning when the newest signing key has expired or expires within 90 days of `now`.
    pub fn expiry_warning(&self, now: SystemTime, image: &str) -> Option<String> {
        if self.insecure_before.is_some() {
            return None; // archived keys are expired by definition; the SHA-1 warning says enough
        }
        let mut newest: Option<(SystemTime, Fingerprint, Option<SystemTime>, &Cert)> = None;
        for cert in &self.certs {
            let Ok(vc) = cert.with_policy(&self.policy, now) else { continue };
            let cert_expiry = vc.primary_key().key_expiration_time();
            for ka in vc.keys().for_signing().revoked(false) {
                let created = ka.key().creation_time();
                let expiry = match (ka.key_expiration_time(), cert_expiry) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
                if newest.as_ref().is_none_or(|(c, ..)| created > *c) {
                    newest = Some((created, ka.key().fingerprint(), expiry, cert));
                }
            }
        }
        let shown = self.path.display();
        let Some((_, fpr, Some(expiry), cert)) = newest else {
            return None;
        };
        let how = if cert.fingerprint().to_hex() == FLATCAR {
            format!("download the new key from {FLATCAR_KEY_URL}, check its fingerprint against Flatcar's announcement, and replace `{shown}` with it")
        } else {
            format!("get the publisher's new public key, check its fingerprint, and replace `{shown}` with it (or point `key:` of image `{image}` at the new file)")
        };
        if expiry <= now {
            Some(format!(
                "key `{shown}` of image `{image}`: its newest signing key {fpr} expired on {}; releases signed after that cannot verify. When the publisher rotates its key, {how}",
                time::date(expiry)
            ))
        } else if expiry.duration_since(now).unwrap_or_default() < EXPIRY_WARNING {
            let days = expiry.duration_since(now).unwrap_or_default().as_secs() / 86_400;
            Some(format!(
                "key `{shown}` of image `{image}`: its newest signing key {fpr} expires on {} (in {days} days); new releases will be signed with its successor. When the publisher rotates its key, {how}",
                time::date(expiry)
            ))
        } else {
            None
        }
    }
}

/// Does any self-signature of `cert` hash with SHA-1?
fn uses_sha1(cert: &Cert) -> bool {
    let sha1 = |s: &Signature| s.hash_algo() == HashAlgorithm::SHA1;
    cert.primary_key().self_signatures().any(sha1)
        || cert.userids().any(|u| u.self_signatures().any(sha1))
        || cert.keys().subkeys().any(|k| k.self_signatures().any(sha1))
}

/// What a good signature established about a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub size: u64,
    /// Lowercase hex.
    pub sha512: String,
    /// The certificate's primary fingerprint.
    pub cert: String,
    /// The (sub)key that made the signature.
    pub signer: String,
    pub signed: SystemTime,
}

/// Why a file did not verify.
#[derive(Debug)]
pub enum Rejection {
    /// The signature file is not an OpenPGP signature.
    BadSignatureFile(String),
    /// No signature in it was made by a key in the key file.
    UnknownKey { issuers: String },
    /// The signing key was not valid for signing when the signature was made.
    BadKey { key: String, why: String },
    /// The file's bytes are not what was signed.
    Mismatch { key: String, size: u64 },
    /// The signature itself is not acceptable (weak hash, expired, from the future).
    BadSignature { key: String, why: String },
    /// Reading the file failed.
    Io(std::io::Error),
}

impl Rejection {
    /// Which failure to report when several signatures fail: the most specific one.
    fn rank(&self) -> u8 {
        match self {
            Rejection::Io(_) => 6,
            Rejection::Mismatch { .. } => 5,
            Rejection::BadSignature { .. } => 4,
            Rejection::BadKey { .. } => 3,
            Rejection::UnknownKey { .. } => 2,
            Rejection::BadSignatureFile(_) => 1,
        }
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rejection::BadSignatureFile(e) => write!(f, "the signature file is not an OpenPGP signature ({e})"),
            Rejection::UnknownKey { issuers } => {
                write!(f, "signed by key {issuers}, which is not in the key file (unknown key)")
            }
            Rejection::BadKey { key, why } => write!(f, "signing key {key} {why}"),
            Rejection::Mismatch { key, size } => write!(
                f,
                "the signature by key {key} does not match the file's {size} bytes: the file was altered, truncated or corrupted"
            ),
            Rejection::BadSignature { key, why } => write!(f, "the signature by key {key} is not acceptable: {why}"),
            Rejection::Io(e) => write!(f, "cannot read the file: {e}"),
        }
    }
}

/// Parses the signatures out of a detached signature file (binary or armored).
fn signatures(sig: &[u8]) -> Result<Vec<Signature>, Rejection> {
    let bad = |e: anyhow::Error| Rejection::BadSignatureFile(e.to_string());
    let mut out = Vec::new();
    let mut ppr = PacketParser::from_bytes(sig).map_err(bad)?;
    while let PacketParserResult::Some(pp) = ppr {
        let (packet, next) = pp.next().map_err(bad)?;
        match packet {
            Packet::Signature(s) => out.push(s),
            p => {
                return Err(Rejection::BadSignatureFile(format!(
                    "it holds a {} packet; a detached signature holds only signature packets",
                    p.tag()
                )))
            }
        }
        ppr = next;
    }
    if out.is_empty() {
        return Err(Rejection::BadSignatureFile("it holds no signature".into()));
    }
    Ok(out)
}

/// Checks, before a download, that some signature in `sig` was made by a key of `keys` that
/// could sign at the time: no point fetching 400 MB that cannot verify.
pub fn precheck(sig: &[u8], keys: &Keyring) -> Result<(), Rejection> {
    Verifier::new(sig, keys).map(|_| ())
}

/// A signature whose key checks out, waiting for the file's digest.
struct Candidate {
    sig: usize,
    key: Key<key::PublicParts, key::UnspecifiedRole>,
    cert: Fingerprint,
    /// Index into the hash contexts.
    ctx: usize,
}

/// The lock's SHA-512: a signature's own context when that is plain SHA-512, else a separate one.
enum Sha512 {
    Shared(usize),
    Own(Box<sha2::Sha512>),
}

/// Verification fed chunk by chunk (from a download as it arrives, or from a file).
pub struct Verifier<'k> {
    keys: &'k Keyring,
    sigs: Vec<Signature>,
    candidates: Vec<Candidate>,
    /// One context per (algorithm, salt).
    ctxs: Vec<(HashAlgorithm, Vec<u8>, Context)>,
    sha512: Sha512,
    size: u64,
    worst: Option<Rejection>,
}

impl<'k> Verifier<'k> {
    /// Parses the signatures and checks their keys; fails when none could verify anything.
    pub fn new(sig: &[u8], keys: &'k Keyring) -> Result<Verifier<'k>, Rejection> {
        let sigs = signatures(sig)?;
        let mut v = Verifier {
            keys,
            sigs: Vec::new(),
            candidates: Vec::new(),
            ctxs: Vec::new(),
            sha512: Sha512::Own(Box::default()),
            size: 0,
            worst: None,
        };
        for (i, s) in sigs.iter().enumerate() {
            let (key, cert) = match check_key(s, keys) {
                Ok(k) => k,
                Err(r) => {
                    v.note(r);
                    continue;
                }
            };
            if !matches!(s.typ(), SignatureType::Binary) {
                let why = format!("it is a {} signature; image files need a binary one", s.typ());
                v.note(Rejection::BadSignature { key: key.fingerprint().to_string(), why });
                continue;
            }
            let salt = match s {
                Signature::V6(v6) => v6.salt().to_vec(),
                _ => Vec::new(),
            };
            let algo = s.hash_algo();
            let ctx = match v.ctxs.iter().position(|(a, b, _)| *a == algo && *b == salt) {
                Some(c) => c,
                None => match algo.context() {
                    Ok(b) => {
                        let mut c = b.for_signature(s.version());
                        c.update(&salt);
                        v.ctxs.push((algo, salt, c));
                        v.ctxs.len() - 1
                    }
                    Err(e) => {
                        v.note(Rejection::BadSignature { key: key.fingerprint().to_string(), why: e.to_string() });
                        continue;
                    }
                },
            };
            v.candidates.push(Candidate { sig: i, key, cert, ctx });
        }
        if v.candidates.is_empty() {
            return Err(v.worst.unwrap_or_else(|| Rejection::BadSignatureFile("no usable signature".into())));
        }
        if let Some(i) = v.ctxs.iter().position(|(a, s, _)| *a == HashAlgorithm::SHA512 && s.is_empty()) {
            v.sha512 = Sha512::Shared(i);
        }
        v.sigs = sigs;
        Ok(v)
    }

    fn note(&mut self, r: Rejection) {
        if self.worst.as_ref().is_none_or(|w| r.rank() > w.rank()) {
            self.worst = Some(r);
        }
    }

    pub fn update(&mut self, data: &[u8]) {
        for (_, _, c) in self.ctxs.iter_mut() {
            c.update(data);
        }
        if let Sha512::Own(h) = &mut self.sha512 {
            h.update(data);
        }
        self.size += data.len() as u64;
    }

    /// Checks the signatures over everything fed so far.
    pub fn finish(mut self) -> Result<Verified, Rejection> {
        let sha512 = match &self.sha512 {
            Sha512::Own(h) => hex(&h.clone().finalize()),
            Sha512::Shared(i) => match self.ctxs[*i].2.clone().into_digest() {
                Ok(d) => hex(&d),
                Err(e) => return Err(Rejection::Io(std::io::Error::other(e.to_string()))),
            },
        };
        let size = self.size;
        for c in std::mem::take(&mut self.candidates) {
            let s = &self.sigs[c.sig];
            let key = c.key.fingerprint().to_string();
            let r = if s.verify_hash(&c.key, self.ctxs[c.ctx].2.clone()).is_err() {
                Rejection::Mismatch { key, size }
            } else if let Err(e) = self.keys.policy.signature(s, HashAlgoSecurity::CollisionResistance) {
                Rejection::BadSignature { key, why: format!("rejected by the OpenPGP policy: {e}") }
            } else if let Err(e) = s.signature_alive(None, None) {
                Rejection::BadSignature { key, why: format!("{e}") }
            } else {
                let signed = s.signature_creation_time().unwrap_or(SystemTime::UNIX_EPOCH);
                return Ok(Verified { size, sha512, cert: c.cert.to_string(), signer: key, signed });
            };
            self.note(r);
        }
        Err(self.worst.unwrap_or_else(|| Rejection::BadSignatureFile("no usable signature".into())))
    }
}

/// Checks `data` against the detached signature `sig` with the keys of `keys`, streaming,
/// and computes its SHA-512 and size in the same pass. `progress` gets each chunk's length.
pub fn verify(
    mut data: impl Read,
    sig: &[u8],
    keys: &Keyring,
    mut progress: impl FnMut(u64),
) -> Result<Verified, Rejection> {
    let mut v = Verifier::new(sig, keys)?;
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = match data.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Rejection::Io(e)),
        };
        v.update(&buf[..n]);
        progress(n as u64);
    }
    v.finish()
}

/// Finds the key that made `sig` and checks it could sign at the signature's time.
fn check_key(
    sig: &Signature,
    keys: &Keyring,
) -> Result<(Key<key::PublicParts, key::UnspecifiedRole>, Fingerprint), Rejection> {
    let issuers = sig.get_issuers();
    let fprs: Vec<String> =
        issuers.iter().filter(|h| matches!(h, openpgp::KeyHandle::Fingerprint(_))).map(|h| h.to_string()).collect();
    let named = if fprs.is_empty() { issuers.iter().map(|h| h.to_string()).collect() } else { fprs };
    let issuer_text = if named.is_empty() { "(no issuer recorded)".to_string() } else { named.join(" / ") };
    let Some(sig_time) = sig.signature_creation_time() else {
        return Err(Rejection::BadSignature { key: issuer_text, why: "it has no creation time".into() });
    };
    let when = time::timestamp(sig_time);
    let mut err = Rejection::UnknownKey { issuers: issuer_text };
    if issuers.is_empty() {
        return Err(err);
    }
    for cert in &keys.certs {
        for ka in cert.keys().key_handles(issuers.iter().cloned()) {
            let fpr = ka.key().fingerprint();
            let bad = |why: String| Rejection::BadKey { key: fpr.to_string(), why };
            let vka = match ka.with_policy(&keys.policy, sig_time) {
                Ok(v) => v,
                Err(e) => {
                    err = bad(format!("was not validly bound to its certificate when the signature was made ({when}) under the OpenPGP policy: {e}"));
                    continue;
                }
            };
            err = if let Err(e) = vka.valid_cert().alive() {
                bad(format!("belongs to a certificate that was not alive when the signature was made ({when}): {e}"))
            } else if let Err(e) = vka.alive() {
                match vka.key_expiration_time() {
                    Some(t) if t <= sig_time => {
                        bad(format!("had expired on {} before the signature was made ({when})", time::timestamp(t)))
                    }
                    _ => bad(format!("was not alive when the signature was made ({when}): {e}")),
                }
            } else if let RevocationStatus::Revoked(_) = vka.valid_cert().revocation_status() {
                bad("belongs to a revoked certificate".into())
            } else if let RevocationStatus::Revoked(_) = vka.revocation_status() {
                bad("is revoked".into())
            } else if !vka.for_signing() {
                bad("is not marked for signing".into())
            } else {
                return Ok((ka.key().clone().role_into_unspecified(), cert.fingerprint()));
            };
        }
    }
    Err(err)
}

pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use openpgp::cert::CertBuilder;
    use openpgp::packet::signature::SignatureBuilder;
    use openpgp::serialize::Serialize as _;
    use openpgp::types::{KeyFlags, ReasonForRevocation};

    const DAY: Duration = Duration::from_secs(86_400);

    /// A certificate with one signing subkey created `age` ago and valid for `validity`.
    pub(crate) fn cert(age: Duration, validity: Option<Duration>) -> Cert {
        let (cert, _) = CertBuilder::new()
            .set_creation_time(SystemTime::now() - age)
            .add_userid("test <test@example.org>")
            .add_subkey(KeyFlags::empty().set_signing(), validity, None)
            .generate()
            .unwrap();
        cert
    }

    /// A detached binary signature over `data` by the signing subkey, made at `when`.
    pub(crate) fn sign(cert: &Cert, data: &[u8], when: SystemTime) -> Vec<u8> {
        let key = cert.keys().subkeys().secret().next().unwrap().key().clone();
        let mut signer = key.into_keypair().unwrap();
        let mut hash = HashAlgorithm::SHA512.context().unwrap().for_signature(4);
        hash.update(data);
        let sig = SignatureBuilder::new(SignatureType::Binary)
            .set_signature_creation_time(when)
            .unwrap()
            .sign_hash(&mut signer, hash)
            .unwrap();
        let mut out = Vec::new();
        Packet::from(sig).serialize(&mut out).unwrap();
        out
    }

    fn ring(cert: &Cert) -> Keyring {
        let mut bytes = Vec::new();
        cert.armored().serialize(&mut bytes).unwrap();
        Keyring::from_bytes(Path::new("test.asc"), &bytes, "test", None).unwrap()
    }

    fn check(data: &[u8], sig: &[u8], keys: &Keyring) -> Result<Verified, Rejection> {
        verify(data, sig, keys, |_| {})
    }

    #[test]
    fn good_signature_verifies_and_hashes() {
        let c = cert(DAY, None);
        let data = b"kernel bytes".repeat(100_000);
        let v = check(&data, &sign(&c, &data, SystemTime::now()), &ring(&c)).unwrap();
        assert_eq!(v.size, data.len() as u64);
        assert_eq!(v.sha512, hex(&sha2::Sha512::digest(&data)));
        assert_eq!(v.cert, c.fingerprint().to_string());
        assert_ne!(v.signer, v.cert, "the subkey signed");
    }

    #[test]
    fn tampered_file_fails() {
        let c = cert(DAY, None);
        let sig = sign(&c, b"original", SystemTime::now());
        let e = check(b"0riginal", &sig, &ring(&c)).unwrap_err();
        assert!(matches!(e, Rejection::Mismatch { .. }), "{e}");
        let e = check(b"origina", &sig, &ring(&c)).unwrap_err();
        assert!(e.to_string().contains("truncated"), "{e}");
    }

    #[test]
    fn unknown_key_fails() {
        let (a, b) = (cert(DAY, None), cert(DAY, None));
        let e = check(b"x", &sign(&a, b"x", SystemTime::now()), &ring(&b)).unwrap_err();
        assert!(matches!(e, Rejection::UnknownKey { .. }), "{e}");
        let sub = a.keys().subkeys().next().unwrap().key().fingerprint().to_string();
        assert!(e.to_string().contains(&sub), "{e}");
    }

    #[test]
    fn key_is_judged_at_signature_time() {
        // Subkey created 30 days ago, valid 10 days.
        let c = cert(30 * DAY, Some(10 * DAY));
        let now = SystemTime::now();
        assert!(check(b"x", &sign(&c, b"x", now - 25 * DAY), &ring(&c)).is_ok(), "signed while valid");
        let e = check(b"x", &sign(&c, b"x", now - 5 * DAY), &ring(&c)).unwrap_err();
        assert!(e.to_string().contains("had expired"), "{e}");
    }

    #[test]
    fn revoked_subkey_fails() {
        let c = cert(DAY, None);
        let sub = c.keys().subkeys().next().unwrap();
        let mut primary = c.primary_key().key().clone().parts_into_secret().unwrap().into_keypair().unwrap();
        let rev = SubkeyRevocationBuilder::new()
            .set_reason_for_revocation(ReasonForRevocation::KeyCompromised, b"lost")
            .unwrap()
            .build(&mut primary, &c, sub.key(), None)
            .unwrap();
        let sig = sign(&c, b"x", SystemTime::now() - Duration::from_secs(3600));
        let (revoked, _) = c.clone().insert_packets(rev).unwrap();
        let e = check(b"x", &sig, &ring(&revoked)).unwrap_err();
        assert!(e.to_string().contains("revoked"), "{e}");
    }

    #[test]
    fn garbage_signature_file_fails() {
        let c = cert(DAY, None);
        let e = check(b"x", b"<html>404</html>", &ring(&c)).unwrap_err();
        assert!(matches!(e, Rejection::BadSignatureFile(_)), "{e}");
    }

    #[test]
    fn expiring_key_warns() {
        let now = SystemTime::now();
        let soon = cert(DAY, Some(31 * DAY));
        let w = ring(&soon).expiry_warning(now, "os").unwrap();
        assert!(w.contains("expires on") && w.contains("replace `test.asc`"), "{w}");
        assert!(ring(&cert(DAY, Some(365 * DAY))).expiry_warning(now, "os").is_none());
        assert!(ring(&cert(DAY, None)).expiry_warning(now, "os").is_none());
    }

    fn repo_key(name: &str) -> Vec<u8> {
        std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("keys").join(name)).unwrap()
    }

    #[test]
    fn flatcar_key_loads_and_warns_only_near_expiry() {
        let bytes = repo_key("flatcar-image-signing-key.asc");
        let k = Keyring::from_bytes(Path::new("flatcar.asc"), &bytes, "flatcar", None).unwrap();
        assert!(k.fingerprints().starts_with(FLATCAR), "{}", k.fingerprints());
        let before = time::parse_date("2026-11-25").unwrap();
        assert!(k.expiry_warning(before, "flatcar").is_none());
        let w = k.expiry_warning(time::parse_date("2027-01-10").unwrap(), "flatcar").unwrap();
        assert!(w.contains("52F145DFD00BBDCD928CBB5A32DA80F91EF52974") && w.contains("2027-03-08"), "{w}");
        assert!(w.contains(FLATCAR_KEY_URL), "{w}");
    }

    #[test]
    fn coreos_key_needs_explicit_opt_in() {
        let bytes = repo_key("coreos-buildbot-image-signing-key.asc");
        let e = Keyring::from_bytes(Path::new("coreos.asc"), &bytes, "coreos", None).unwrap_err().to_string();
        assert!(e.contains("SHA-1") && e.contains("insecure_sha1_key_before"), "{e}");
        let k = Keyring::from_bytes(Path::new("coreos.asc"), &bytes, "coreos", Some("2023-01-01")).unwrap();
        assert!(k.fingerprints().starts_with("04127D0BFABEC8871FFB2CCE50E0885593D2DCB4"));
        assert!(Keyring::from_bytes(Path::new("c.asc"), &bytes, "coreos", Some("Jan 2023")).is_err());
    }
}

//! Choosing where tensors live.
//!
//! Burn 0.22 tensors carry no backend type: a runtime [`Device`] decides. Which devices
//! exist depends on the cargo features compiled in (`flex`, `ndarray`, `wgpu`), so binaries
//! pick one *by name* (`--device`, or the `EMBER_DEVICE` environment variable) and get a
//! clear [`Error::Backend`] instead of a panic when the name was not compiled in or a GPU
//! adapter cannot start. Library code never chooses: it takes `&Device`.

use crate::error::{Error, Result};
use burn::tensor::Device;

/// Environment variable read by [`device_from_env`].
pub const DEVICE_ENV: &str = "EMBER_DEVICE";

/// A backend ember knows about, compiled in or not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BackendKind {
    /// Burn's pure-Rust CPU backend (SIMD + threads). The default.
    Flex,
    /// The ndarray CPU backend (deprecated upstream; kept for cross-checks).
    NdArray,
    /// wgpu: Vulkan/Metal/DX12/GL chosen at runtime (also runs on Mesa lavapipe without a GPU).
    Wgpu,
}

impl BackendKind {
    /// Every backend ember supports, in preference order for [`default_backend`].
    pub const ALL: [BackendKind; 3] = [BackendKind::Flex, BackendKind::NdArray, BackendKind::Wgpu];

    /// The name used on command lines and in `EMBER_DEVICE`.
    pub fn name(self) -> &'static str {
        match self {
            BackendKind::Flex => "flex",
            BackendKind::NdArray => "ndarray",
            BackendKind::Wgpu => "wgpu",
        }
    }

    /// The cargo feature that compiles this backend in.
    pub fn feature(self) -> &'static str {
        self.name()
    }

    /// Whether this backend was compiled into the current binary.
    pub fn is_compiled(self) -> bool {
        match self {
            BackendKind::Flex => cfg!(feature = "flex"),
            BackendKind::NdArray => cfg!(feature = "ndarray"),
            BackendKind::Wgpu => cfg!(feature = "wgpu"),
        }
    }

    /// Parse a backend name (case-insensitive).
    pub fn parse(name: &str) -> Result<Self> {
        let lower = name.trim().to_ascii_lowercase();
        BackendKind::ALL
            .into_iter()
            .find(|b| b.name() == lower)
            .ok_or_else(|| {
                Error::Backend(format!(
                    "unknown backend `{name}`; known: flex, ndarray, wgpu (compiled in: {})",
                    compiled_backends_list()
                ))
            })
    }
}

impl std::fmt::Display for BackendKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The backends compiled into this binary, in preference order.
pub fn compiled_backends() -> Vec<BackendKind> {
    BackendKind::ALL
        .into_iter()
        .filter(|b| b.is_compiled())
        .collect()
}

fn compiled_backends_list() -> String {
    let names: Vec<_> = compiled_backends().iter().map(|b| b.name()).collect();
    if names.is_empty() {
        "none".to_string()
    } else {
        names.join(", ")
    }
}

/// The first compiled CPU backend (`flex`, else `ndarray`), else `wgpu`.
///
/// Unlike Burn's own `Device::default()`, this never prefers wgpu just because it was
/// compiled in: on a machine whose only adapter is a software rasteriser that would be ~10x
/// slower than flex.
pub fn default_backend() -> Result<BackendKind> {
    compiled_backends().first().copied().ok_or_else(|| {
        Error::Backend("no backend compiled in: enable `flex`, `ndarray` or `wgpu`".into())
    })
}

/// A device on `kind`, or a clear error if it is not compiled in or cannot start.
pub fn device(kind: BackendKind) -> Result<Device> {
    if !kind.is_compiled() {
        return Err(Error::Backend(format!(
            "backend `{kind}` was not compiled in; rebuild with `--features {}` (compiled in: {})",
            kind.feature(),
            compiled_backends_list()
        )));
    }
    match kind {
        #[cfg(feature = "flex")]
        BackendKind::Flex => Ok(Device::flex()),
        #[cfg(feature = "ndarray")]
        #[allow(deprecated)]
        BackendKind::NdArray => Ok(Device::ndarray()),
        #[cfg(feature = "wgpu")]
        BackendKind::Wgpu => wgpu_device(),
        #[allow(unreachable_patterns)]
        _ => unreachable!("is_compiled() checked above"),
    }
}

/// Start wgpu once per process; later calls reuse the device or the first error.
#[cfg(feature = "wgpu")]
fn wgpu_device() -> Result<Device> {
    use std::sync::OnceLock;
    static WGPU: OnceLock<std::result::Result<Device, String>> = OnceLock::new();
    WGPU.get_or_init(|| {
        Device::wgpu_options()
            .init()
            .map_err(|e| format!("wgpu adapter could not start: {e:?}. On a machine without a GPU install Mesa's lavapipe (Debian: mesa-vulkan-drivers)"))
    })
    .clone()
    .map_err(Error::Backend)
}

/// A device by name: `flex`, `ndarray` or `wgpu`.
pub fn device_by_name(name: &str) -> Result<Device> {
    device(BackendKind::parse(name)?)
}

/// The device named by `EMBER_DEVICE`, else the [`default_backend`].
pub fn device_from_env() -> Result<(BackendKind, Device)> {
    let kind = match std::env::var(DEVICE_ENV) {
        Ok(name) if !name.trim().is_empty() => BackendKind::parse(&name)?,
        _ => default_backend()?,
    };
    Ok((kind, device(kind)?))
}

/// Resolve an optional `--device` argument, falling back to `EMBER_DEVICE` and then the default.
pub fn resolve_device(cli: Option<&str>) -> Result<(BackendKind, Device)> {
    match cli {
        Some(name) => {
            let kind = BackendKind::parse(name)?;
            Ok((kind, device(kind)?))
        }
        None => device_from_env(),
    }
}

/// Seed both Burn's backend RNG for `device` and return a seeded host RNG.
///
/// Burn's backend RNG (weight init, dropout, `Tensor::random`) is per backend and
/// process-wide; the host RNG drives data generation and sampling. Same seed, same backend,
/// same thread count: same run. Different backends draw different random streams.
///
/// The same as [`Seed::new(seed).seed_device(device)`](crate::seed::Seed::seed_device), kept
/// for existing callers; new code takes its seeds from [`crate::seed::Seed`].
pub fn seed_everything(device: &Device, seed: u64) -> rand_chacha::ChaCha8Rng {
    crate::seed::Seed::new(seed).seed_device(device)
}

/// Whether tensors on `device` live in host memory: flex or ndarray, with or without
/// autodiff. A host-side kernel (a fused pass over the tensors' data) costs no transfer
/// there; on a GPU it would read every input back and stall the queue, so callers take the
/// tensor path instead.
pub fn runs_on_host(device: &Device) -> bool {
    let d = device.clone().without_autodiff();
    #[cfg(feature = "flex")]
    if d == Device::flex() {
        return true;
    }
    #[cfg(feature = "ndarray")]
    #[allow(deprecated)]
    if d == Device::ndarray() {
        return true;
    }
    let _ = d;
    false
}

/// Set (to anything) to make [`parity_devices`] fail when wgpu is not compiled in or its
/// adapter cannot start, instead of skipping it: CI sets it, so a missing Vulkan driver
/// cannot pass parity silently.
pub const REQUIRE_WGPU_ENV: &str = "EMBER_REQUIRE_WGPU";

/// Every compiled-in backend as `(name, device)`, for tests that compare backends.
///
/// wgpu is included only when compiled in and when `EMBER_SKIP_WGPU` is unset; an adapter
/// that fails to start is skipped with a message on stderr rather than failing the caller,
/// unless [`REQUIRE_WGPU_ENV`] is set.
///
/// # Panics
/// With [`REQUIRE_WGPU_ENV`] set, when wgpu is not compiled in or cannot start.
pub fn parity_devices() -> Vec<(BackendKind, Device)> {
    let require = std::env::var_os(REQUIRE_WGPU_ENV).is_some();
    assert!(
        !require || BackendKind::Wgpu.is_compiled(),
        "{REQUIRE_WGPU_ENV} is set but wgpu was not compiled in: build with --features ndarray,wgpu"
    );
    let mut out = Vec::new();
    for kind in compiled_backends() {
        if kind == BackendKind::Wgpu && std::env::var_os("EMBER_SKIP_WGPU").is_some() {
            continue;
        }
        match device(kind) {
            Ok(d) => out.push((kind, d)),
            Err(e) if require && kind == BackendKind::Wgpu => {
                panic!("parity: {REQUIRE_WGPU_ENV} is set and {kind} cannot start: {e}")
            }
            Err(e) => eprintln!("parity: skipping {kind}: {e}"),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_devices_are_the_cpu_backends() {
        for kind in compiled_backends() {
            let d = device(kind).unwrap_or_else(|e| panic!("{kind}: {e}"));
            let host = kind != BackendKind::Wgpu;
            assert_eq!(runs_on_host(&d), host, "{kind}");
            assert_eq!(runs_on_host(&d.autodiff()), host, "{kind} autodiff");
        }
    }

    #[test]
    fn parse_names() {
        assert_eq!(BackendKind::parse("FLEX").unwrap(), BackendKind::Flex);
        assert_eq!(
            BackendKind::parse(" ndarray").unwrap(),
            BackendKind::NdArray
        );
        let err = BackendKind::parse("cuda").unwrap_err().to_string();
        assert!(err.contains("unknown backend `cuda`"), "{err}");
    }

    #[test]
    fn uncompiled_backend_is_an_error_not_a_panic() {
        for kind in BackendKind::ALL {
            if !kind.is_compiled() {
                let err = device(kind).unwrap_err().to_string();
                assert!(err.contains("was not compiled in"), "{err}");
                assert!(
                    err.contains(&format!("--features {}", kind.feature())),
                    "{err}"
                );
            }
        }
    }

    #[cfg(feature = "flex")]
    #[test]
    fn flex_is_default_when_compiled() {
        assert_eq!(default_backend().unwrap(), BackendKind::Flex);
        assert!(device_by_name("flex").is_ok());
    }
}

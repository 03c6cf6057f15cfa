//! What the CPU has, and which decoding loop runs on it.
//!
//! The loop is chosen by measured speed per CPU ([`MEASURED`]: vendor, family and model), not by vendor: the
//! 8-record AVX-512 loop's lead over the `pext` loop depends on how fast a CPU runs 512-bit permutes and
//! compresses and whether its clock drops while they run, and only running the analyzer tells (Intel's were
//! left on `pext` for fear of the clock drop until one was measured: the AVX-512 loop is ~15 % faster there
//! too). A CPU not in the table gets the rule in [`unmeasured`]. `PYLU_DECODER=portable`,
//! `pext` or `avx512` overrides the choice (for benchmarks and tests); a value this CPU cannot run, or an
//! unknown one, is reported once on stderr and the measured choice is kept.
//!
//! Not a calibration at first use: which loop wins depends on the sink inlined into it (the analyzer's stack
//! machine), which a short run inside this crate cannot reproduce, and on a shared machine a run of a few
//! milliseconds is too noisy to decide a difference of 5-20 %.

use super::DecodePath;

/// The loop [`super::Records::try_for_each`] runs on this CPU (decided once per process).
#[inline(always)]
pub(super) fn chosen() -> DecodePath {
    static CHOSEN: std::sync::OnceLock<DecodePath> = std::sync::OnceLock::new();
    *CHOSEN.get_or_init(|| {
        let measured = by_measurement();
        match std::env::var("PYLU_DECODER") {
            Err(_) => measured,
            Ok(name) => match overridden(&name) {
                Ok(path) => path,
                Err(why) => {
                    eprintln!("pylu: PYLU_DECODER={name}: {why}; decoding with {}", measured.name());
                    measured
                }
            },
        }
    })
}

/// The loop `PYLU_DECODER=name` asks for, if this CPU can run it.
fn overridden(name: &str) -> Result<DecodePath, &'static str> {
    let path = DecodePath::ALL.into_iter().find(|p| p.name() == name).ok_or("not one of portable, pext, avx512")?;
    if can_run(path) {
        Ok(path)
    } else {
        Err("this CPU cannot run that decoder")
    }
}

/// Whether this CPU has every instruction `path` uses.
pub(super) fn can_run(path: DecodePath) -> bool {
    match path {
        DecodePath::Portable => true,
        #[cfg(target_arch = "x86_64")]
        DecodePath::Bmi2 => bmi2_available(),
        #[cfg(target_arch = "x86_64")]
        DecodePath::Avx512 => bmi2_available() && super::avx512::available(),
        #[cfg(not(target_arch = "x86_64"))]
        _ => false,
    }
}

/// Who designed the CPU: AMD (Hygon's are AMD's designs), Intel, or another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Vendor {
    Amd,
    Intel,
    Other,
}

/// A CPU as `cpuid` names it: vendor, family and model as `lscpu` prints them ("CPU family", "Model").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Cpu {
    vendor: Vendor,
    family: u32,
    model: u32,
}

/// The loop measured fastest on each CPU measured so far (`None` as the model: every model of the family). An
/// entry naming a slower-looking loop is how an exception to [`unmeasured`]'s rule is made. Time per profiled
/// call, decoding and the analyzer's work together, one core (docs/FORMAT.md, "Decoding", has the runs):
///
/// | CPU                                  | family, model | portable | `pext`  | AVX-512 |
/// |--------------------------------------|---------------|----------|---------|---------|
/// | AMD Zen 4                            | 0x19, any     |          | 23.0 ns | 19.5 ns |
/// | Intel Xeon, Emerald Rapids (KVM)     | 6, 0xcf       |          | 33.8 ns | 28.6 ns |
const MEASURED: &[(Vendor, u32, Option<u32>, DecodePath)] = &[
    // 2026-11-26, a harness with the analyzer's sink on one 268 MB file (docs/performance-log.md).
    (Vendor::Amd, 0x19, None, DecodePath::Avx512),
    // 2026-12-06, `pylu-analyze summary` on a 537 MB generated set, CPU time, medians of 11 alternating runs.
    (Vendor::Intel, 6, Some(0xcf), DecodePath::Avx512),
];

/// The measured choice for this CPU, or the rule of thumb, brought down to what the CPU can run.
fn by_measurement() -> DecodePath {
    choose(Cpu::this(), can_run)
}

/// [`by_measurement`] for `cpu`, which can run what `can_run` says.
fn choose(cpu: Option<Cpu>, can_run: impl Fn(DecodePath) -> bool) -> DecodePath {
    let wanted = MEASURED
        .iter()
        .find(|&&(vendor, family, model, _)| {
            cpu.is_some_and(|c| c.vendor == vendor && c.family == family && model.is_none_or(|m| m == c.model))
        })
        .map(|&(.., path)| path)
        .unwrap_or_else(|| unmeasured(cpu));
    // A virtual machine may hide features its CPU model has. Both x86 loops gather with `pext`.
    let slow_pext = cpu.is_some_and(|c| c.microcoded_pext());
    [wanted, DecodePath::Bmi2, DecodePath::Portable]
        .into_iter()
        .find(|&path| can_run(path) && (path == DecodePath::Portable || !slow_pext))
        .unwrap_or(DecodePath::Portable)
}

/// The rule for CPUs no one measured: the fastest loop on every CPU measured, the AVX-512 one, wherever it runs
/// (then `pext` where it is fast, then the portable loop: see [`choose`]); off x86_64, the portable loop.
fn unmeasured(cpu: Option<Cpu>) -> DecodePath {
    match cpu {
        Some(_) => DecodePath::Avx512,
        None => DecodePath::Portable,
    }
}

impl Cpu {
    /// This CPU (`None` off x86_64).
    fn this() -> Option<Cpu> {
        #[cfg(target_arch = "x86_64")]
        {
            use std::arch::x86_64::__cpuid;
            let (vendor, signature) = (__cpuid(0), __cpuid(1).eax);
            Some(Cpu::from_cpuid([vendor.ebx, vendor.edx, vendor.ecx], signature))
        }
        #[cfg(not(target_arch = "x86_64"))]
        None
    }

    /// The CPU of vendor string `name` (`cpuid` leaf 0: EBX, EDX, ECX) and processor signature `signature`
    /// (leaf 1: EAX).
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    fn from_cpuid(name: [u32; 3], signature: u32) -> Cpu {
        const AUTHENTIC_AMD: [u32; 3] = [0x6874_7541, 0x6974_6e65, 0x444d_4163];
        const HYGON_GENUINE: [u32; 3] = [0x6f67_7948, 0x6e65_476e, 0x656e_6975];
        const GENUINE_INTEL: [u32; 3] = [0x756e_6547, 0x4965_6e69, 0x6c65_746e];
        let vendor = match name {
            AUTHENTIC_AMD | HYGON_GENUINE => Vendor::Amd,
            GENUINE_INTEL => Vendor::Intel,
            _ => Vendor::Other,
        };
        // As Intel's and AMD's manuals define them (and lscpu prints them): the extended family is added only to
        // base family 0xf, the extended model prefixed only for base families 0x6 and 0xf.
        let base = (signature >> 8) & 0xf;
        let family = if base == 0xf { base + ((signature >> 20) & 0xff) } else { base };
        let model = (signature >> 4) & 0xf;
        let model = if base == 0x6 || base == 0xf { model | ((signature >> 16) & 0xf) << 4 } else { model };
        Cpu { vendor, family, model }
    }

    /// Whether the CPU runs BMI2's `pext` in microcode, tens to hundreds of cycles: AMD's before Zen 3 (families
    /// below 0x19, and Hygon's), where the portable gather is faster.
    fn microcoded_pext(&self) -> bool {
        self.vendor == Vendor::Amd && self.family < 0x19
    }
}

/// Whether the CPU has BMI1 and BMI2 (fast or not).
#[cfg(target_arch = "x86_64")]
fn bmi2_available() -> bool {
    std::is_x86_feature_detected!("bmi1") && std::is_x86_feature_detected!("bmi2")
}

#[cfg(test)]
mod tests {
    use super::*;

    const INTEL: [u32; 3] = [0x756e_6547, 0x4965_6e69, 0x6c65_746e];
    const AMD: [u32; 3] = [0x6874_7541, 0x6974_6e65, 0x444d_4163];

    #[test]
    fn family_and_model_are_lscpus() {
        // This machine's Xeon: lscpu "CPU family: 6, Model: 207, Stepping: 2".
        assert_eq!(Cpu::from_cpuid(INTEL, 0x000c_06f2), Cpu { vendor: Vendor::Intel, family: 6, model: 207 });
        // A Zen 4 EPYC: family 0x19 (0xf + extended 0xa), model 0x11.
        assert_eq!(Cpu::from_cpuid(AMD, 0x00a1_0f11), Cpu { vendor: Vendor::Amd, family: 0x19, model: 0x11 });
        assert_eq!(Cpu::from_cpuid([0; 3], 0x0000_0f41).vendor, Vendor::Other);
    }

    #[test]
    fn the_choice_follows_the_table_then_what_the_cpu_can_run() {
        let all = |_| true;
        let no_avx512 = |p| p != DecodePath::Avx512;
        let xeon = Some(Cpu::from_cpuid(INTEL, 0x000c_06f2));
        let zen4 = Some(Cpu::from_cpuid(AMD, 0x00a1_0f11));
        let zen2 = Some(Cpu { vendor: Vendor::Amd, family: 0x17, model: 0x31 });
        let other_intel = Some(Cpu { vendor: Vendor::Intel, family: 6, model: 0x8f });
        for &(vendor, family, model, path) in MEASURED {
            let cpu = Cpu { vendor, family, model: model.unwrap_or(0) };
            assert_eq!(choose(Some(cpu), all), path, "{cpu:?}");
        }
        assert_eq!(choose(zen4, all), DecodePath::Avx512);
        assert_eq!(choose(zen4, no_avx512), DecodePath::Bmi2);
        assert_eq!(choose(xeon, no_avx512), DecodePath::Bmi2);
        assert_eq!(choose(other_intel, all), unmeasured(other_intel));
        // Zen 2 has BMI2, with `pext` in microcode.
        assert_eq!(choose(zen2, all), DecodePath::Portable);
        assert_eq!(choose(None, all), DecodePath::Portable);
        assert_eq!(choose(xeon, |p| p == DecodePath::Portable), DecodePath::Portable);
    }

    #[test]
    fn the_override_names_a_decoder_this_cpu_can_run() {
        for path in DecodePath::ALL {
            assert_eq!(
                overridden(path.name()),
                if can_run(path) { Ok(path) } else { Err("this CPU cannot run that decoder") }
            );
        }
        assert_eq!(overridden("bmi2"), Err("not one of portable, pext, avx512"));
        assert_eq!(overridden(""), Err("not one of portable, pext, avx512"));
    }
}

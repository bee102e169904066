//! A plan (a dry run): what each listed artifact would come to, from what the destination
//! holds under its name, told as the real execution would tell it.

use crate::oci::Digest;

/// What the destination holds under an artifact's destination name, by one HEAD.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Held {
    /// Nothing.
    Absent,
    /// The source's digest (or the index Ferry made of it for the policy's platforms).
    Same(Digest),
    /// Another digest.
    Other(Digest),
}

/// What a real execution would do with the artifact, as the plan's task says it.
/// `held` is None where the destination was not asked (a chart repository, an artifact whose
/// referrers live under tags) or did not answer.
pub fn planned(held: Option<&Held>, override_: bool, deletion: bool) -> String {
    match (deletion, held) {
        (true, _) => "plan: delete: deleted at the source".into(),
        (false, Some(Held::Same(digest))) => {
            format!("plan: skip: unchanged, the destination has {digest}")
        }
        (false, Some(Held::Other(digest))) if override_ => {
            format!("plan: overwrite: the destination holds {digest} and override is on")
        }
        (false, Some(Held::Other(digest))) => {
            format!("plan: skip: the destination holds {digest} and override is off")
        }
        (false, Some(Held::Absent)) => "plan: copy: not at the destination".into(),
        (false, None) => "plan: copy: the transfer compares it (its referrers may be new, or the destination's digest is not comparable)".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_holding_tells_its_outcome() {
        let digest = Digest::sha256(b"x");
        let plan = |held: Option<Held>, override_| planned(held.as_ref(), override_, false);
        assert!(plan(Some(Held::Absent), false).starts_with("plan: copy"));
        assert!(plan(Some(Held::Same(digest.clone())), true).starts_with("plan: skip: unchanged"));
        assert!(plan(Some(Held::Other(digest.clone())), true).starts_with("plan: overwrite"));
        assert!(plan(Some(Held::Other(digest)), false).contains("override is off"));
        assert!(plan(None, false).starts_with("plan: copy"));
        assert!(planned(None, false, true).starts_with("plan: delete"));
    }
}

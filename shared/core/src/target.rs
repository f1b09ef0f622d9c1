//! Where a resource lives (account, region) and how to reach it: the function's own
//! credentials, or a role assumed in another account. One decision, shared by every function
//! that acts on resources in other accounts (the clients per target are built by
//! `sagewatch_aws::target::TargetClients`).

/// Where the resource lives. `None` parts mean "the function's own".
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Target {
    pub account: Option<String>,
    pub region: Option<String>,
    /// Role to assume first (set only for another account).
    pub role_arn: Option<String>,
}

/// The resource is in another account and no cross-account role is configured.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the resource is in account {account}, not this one ({home}), and SAGEWATCH_CROSS_ACCOUNT_ROLE_NAME is not set")]
pub struct NoCrossAccountRole {
    pub account: String,
    pub home: String,
}

impl Target {
    /// The target for a resource in `account`/`region`. Another account than `home_account`
    /// needs `role_name` (the same role name in every account): then the role ARN is
    /// `arn:<partition>:iam::<account>:role/<role_name>`. An unknown account or home is "ours".
    pub fn resolve(
        account: Option<&str>,
        region: Option<&str>,
        home_account: Option<&str>,
        role_name: Option<&str>,
    ) -> Result<Target, NoCrossAccountRole> {
        let foreign = matches!((account, home_account), (Some(a), Some(h)) if a != h);
        let role_arn = match (foreign, account, role_name) {
            (false, _, _) => None,
            (true, Some(account), Some(role)) => {
                let partition = partition_of_region(region.unwrap_or(""));
                Some(format!("arn:{partition}:iam::{account}:role/{role}"))
            }
            (true, _, _) => {
                return Err(NoCrossAccountRole {
                    account: account.unwrap_or_default().to_owned(),
                    home: home_account.unwrap_or_default().to_owned(),
                })
            }
        };
        Ok(Target {
            account: account.map(str::to_owned),
            region: region.map(str::to_owned),
            role_arn,
        })
    }
}

/// IAM ARNs carry the partition: China and GovCloud regions are not `aws`.
pub fn partition_of_region(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else {
        "aws"
    }
}

/// The AWS console's host in the partition of `region`.
pub fn console_host(region: &str) -> &'static str {
    match partition_of_region(region) {
        "aws-cn" => "console.amazonaws.cn",
        "aws-us-gov" => "console.amazonaws-us-gov.com",
        _ => "console.aws.amazon.com",
    }
}

/// `arn:aws:lambda:<region>:<account>:function:<name>` → account.
pub fn account_of_arn(arn: &str) -> Option<String> {
    let account = arn.split(':').nth(4)?;
    (!account.is_empty()).then(|| account.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_or_unknown_account_needs_no_role() {
        let t = Target::resolve(Some("1"), Some("eu-west-1"), Some("1"), Some("r")).unwrap();
        assert_eq!(t.role_arn, None);
        let t = Target::resolve(Some("2"), None, None, None).unwrap();
        assert_eq!(t.role_arn, None);
        let t = Target::resolve(None, None, Some("1"), None).unwrap();
        assert_eq!(t.role_arn, None);
    }

    #[test]
    fn other_account_assumes_the_named_role_in_the_right_partition() {
        let t = Target::resolve(Some("2"), Some("cn-north-1"), Some("1"), Some("guard")).unwrap();
        assert_eq!(t.role_arn.as_deref(), Some("arn:aws-cn:iam::2:role/guard"));
        let t = Target::resolve(Some("2"), Some("us-gov-west-1"), Some("1"), Some("g")).unwrap();
        assert_eq!(t.role_arn.as_deref(), Some("arn:aws-us-gov:iam::2:role/g"));
        let e = Target::resolve(Some("2"), Some("eu-west-1"), Some("1"), None).unwrap_err();
        assert_eq!(e.account, "2");
    }

    #[test]
    fn account_from_arn() {
        assert_eq!(
            account_of_arn("arn:aws:lambda:us-east-1:123456789012:function:f").as_deref(),
            Some("123456789012")
        );
        assert_eq!(account_of_arn("arn:aws:s3:::bucket"), None);
        assert_eq!(account_of_arn(""), None);
    }
}

//! One cache of SDK clients per [`Target`] (account, region, role), built once per cold start.

use aws_config::sts::AssumeRoleProvider;
use aws_config::{Region, SdkConfig};
use aws_credential_types::provider::SharedCredentialsProvider;
use sagewatch::target::Target;
use std::collections::HashMap;
use std::sync::Mutex;

type MakeClients<C> = Box<dyn Fn(&SdkConfig) -> C + Send + Sync>;

/// Clients (any `C`: one SDK client or a struct of several) per target, built once per cold
/// start. The home clients are given (tests add interceptors to them); other targets get
/// clients built by `make` from the home config with the target's region and, for another
/// account, an STS AssumeRole provider that caches and refreshes the credentials itself.
pub struct TargetClients<C> {
    home: SdkConfig,
    home_clients: C,
    make: MakeClients<C>,
    session_name: String,
    cache: Mutex<HashMap<Target, C>>,
}

impl<C: Clone> TargetClients<C> {
    pub fn new(
        home: SdkConfig,
        home_clients: C,
        make: impl Fn(&SdkConfig) -> C + Send + Sync + 'static,
        session_name: impl Into<String>,
    ) -> Self {
        TargetClients {
            home,
            home_clients,
            make: Box::new(make),
            session_name: session_name.into(),
            cache: Mutex::new(HashMap::new()),
        }
    }

    pub async fn get(&self, target: &Target) -> C {
        let home_region = self.home.region().map(|r| r.as_ref());
        let same_region = target.region.is_none() || target.region.as_deref() == home_region;
        if target.role_arn.is_none() && same_region {
            return self.home_clients.clone();
        }
        if let Some(c) = self.cache.lock().ok().and_then(|m| m.get(target).cloned()) {
            return c;
        }
        let mut builder = self.home.to_builder();
        if let Some(region) = &target.region {
            builder = builder.region(Region::new(region.clone()));
        }
        if let Some(role_arn) = &target.role_arn {
            let provider = AssumeRoleProvider::builder(role_arn)
                .session_name(&self.session_name)
                .configure(&self.home)
                .build()
                .await;
            builder = builder.credentials_provider(SharedCredentialsProvider::new(provider));
        }
        let clients = (self.make)(&builder.build());
        if let Ok(mut m) = self.cache.lock() {
            m.insert(target.clone(), clients.clone());
        }
        clients
    }
}

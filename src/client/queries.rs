//! The materialized-query endpoints: a query's status, the project's
//! list, refresh and cancel. The requests, caps and answer sorting are the
//! cache endpoints' own.

use std::time::Duration;

use reqwest::{Method, Url};

use super::{Client, FetchError, MAX_BODY_BYTES, MAX_LIST_BODY_BYTES, Reply, not_a_page};
use crate::query::{self, QueryStatus};
use crate::secret::Scrub;
use crate::stream::{Sink, Whole};

impl Client {
    /// `{base}/data/projects/{projectId}/materialized-queries/{queryId}/status`.
    pub fn query_status_url(&self, project_id: &str, query_id: &str) -> Url {
        self.endpoint(&[
            "data",
            "projects",
            project_id,
            "materialized-queries",
            query_id,
            "status",
        ])
    }

    /// `{base}/data/projects/{projectId}/materialized-queries/status`: every
    /// materialized query of a project.
    pub fn query_list_url(&self, project_id: &str) -> Url {
        self.endpoint(&[
            "data",
            "projects",
            project_id,
            "materialized-queries",
            "status",
        ])
    }

    /// `{base}/data/projects/{projectId}/materialized-queries/{queryId}/refresh`
    /// or `…/cancel`.
    pub fn query_action_url(&self, project_id: &str, query_id: &str, action: &str) -> Url {
        self.endpoint(&[
            "data",
            "projects",
            project_id,
            "materialized-queries",
            query_id,
            action,
        ])
    }

    /// Fetches the status of one materialized query.
    pub async fn query_status(
        &self,
        project_id: &str,
        query_id: &str,
        budget: Duration,
    ) -> Result<Reply<QueryStatus>, FetchError> {
        self.fetch(
            Method::GET,
            self.query_status_url(project_id, query_id),
            budget,
            MAX_BODY_BYTES,
            Whole::new(query::decode_query),
        )
        .await
    }

    /// Fetches the status of every materialized query of a project in one
    /// request, handing each (scrubbed) to `sink` as it arrives: a sink
    /// that keeps only the awaited queries holds a list of any length in
    /// bounded memory.
    pub async fn query_statuses<S>(
        &self,
        project_id: &str,
        budget: Duration,
        sink: S,
    ) -> Result<Reply<S::Value>, FetchError>
    where
        S: Sink<QueryStatus>,
        S::Value: Scrub,
    {
        self.fetch(
            Method::GET,
            self.query_list_url(project_id),
            budget,
            MAX_LIST_BODY_BYTES,
            query::query_list_decoder(self.scrubbing(sink)),
        )
        .await
    }

    /// Asks Peaka to refresh a materialized query. Sent once: the caller
    /// may repeat it only after [`FetchError::Unreached`].
    pub async fn refresh_query(
        &self,
        project_id: &str,
        query_id: &str,
        budget: Duration,
    ) -> Result<Reply<()>, FetchError> {
        self.fetch(
            Method::POST,
            self.query_action_url(project_id, query_id, "refresh"),
            budget,
            MAX_BODY_BYTES,
            Whole::new(not_a_page),
        )
        .await
    }

    /// Asks Peaka to cancel a materialized query's running refresh. Sent once.
    pub async fn cancel_query(
        &self,
        project_id: &str,
        query_id: &str,
        budget: Duration,
    ) -> Result<Reply<()>, FetchError> {
        self.fetch(
            Method::POST,
            self.query_action_url(project_id, query_id, "cancel"),
            budget,
            MAX_BODY_BYTES,
            Whole::new(|_: &[u8]| Ok(())),
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_id_is_one_encoded_segment() {
        let client =
            Client::new("https://h.example/api/v1/".parse().unwrap(), "k-123456789").unwrap();
        assert_eq!(
            client.query_status_url("p", "a/b").as_str(),
            "https://h.example/api/v1/data/projects/p/materialized-queries/a%2Fb/status"
        );
        assert_eq!(
            client.query_list_url("p").as_str(),
            "https://h.example/api/v1/data/projects/p/materialized-queries/status"
        );
        assert_eq!(
            client.query_action_url("p", "9", "refresh").as_str(),
            "https://h.example/api/v1/data/projects/p/materialized-queries/9/refresh"
        );
    }
}

//! Every Kubernetes name, label key, port name, container and volume name, path and annotation that
//! the operator writes, defined once. Object names follow the v1beta2 reference layout so that
//! existing Services, dashboards and alerts keep working after a switch.

/// Container name of the Prometheus exporter sidecar.
pub const EXPORTER_CONTAINER_NAME: &str = "redis-exporter";
/// Port name of the exporter, on its container and on the main Service.
pub const EXPORTER_PORT_NAME: &str = "redis-exporter";
/// Prefix of the init container's name; the StatefulSet name follows it.
pub const INIT_CONTAINER_PREFIX: &str = "init";

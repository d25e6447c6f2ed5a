//! Production implementations of the ports: the only code that talks to the Kubernetes API server
//! (and to Redis servers) over the network. Adapters translate; they decide nothing.

pub mod kube;

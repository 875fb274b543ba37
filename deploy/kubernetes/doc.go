// Package kubernetes holds pangate's Kubernetes manifests (plain YAML, applied with `kubectl apply -k`) and
// the tests that check them without a cluster: every field name and value kind against the Kubernetes API
// types (testdata/k8s-fields.json, written by the schemagen module), required fields, selectors against pod
// labels, Service target ports against named container ports, probes against the ops address in the
// embedded service configuration, one image naming scheme, container arguments against the flags each
// service's main accepts, every embedded configuration loaded and validated by that service's own config
// package, and the Strimzi KafkaTopics against schemas.Topics(3). See docs/deploy.md and docs/scaling.md.
//
// kafka-topics.yaml and gateway-policy.yaml are generated; after changing schemas.Topics or
// deploy/policy/pci.yaml run
//
//	go test ./deploy/kubernetes -run Generated -update
package kubernetes

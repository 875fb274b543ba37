package main

import (
	"bytes"
	"strings"
	"testing"
	"text/template"

	"github.com/pangate/pangate/deploy/kafkaacl"
)

// TestRedactArgs: the storage tool's --add-scram arguments carry passwords; the log gets none of them.
func TestRedactArgs(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"SCRAM-SHA-512=[name=pangate-admin,password=s3cr3t]", "SCRAM-SHA-512=[name=pangate-admin,password=REDACTED]"},
		{"SCRAM-SHA-512=[password=s3cr3t,name=x]", "SCRAM-SHA-512=[password=REDACTED,name=x]"},
		{"password=s3cr3t", "password=REDACTED"},
		{"--config", "--config"},
	} {
		if got := redactArgs([]string{c.in}); got != c.want || strings.Contains(got, "s3cr3t") {
			t.Errorf("redactArgs(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// TestClusterServerProperties renders node 2's configuration and checks the settings the profile
// promises (docs/scaling.md): SCRAM on the client and inter-broker listeners, TLS on the client listener,
// the StandardAuthorizer with the super users, replication 3 and min.insync.replicas 2.
func TestClusterServerProperties(t *testing.T) {
	var b bytes.Buffer
	err := template.Must(template.New("p").Parse(clusterServerProperties)).Execute(&b, map[string]any{
		"ID": 2, "Host": host, "Voters": "1@h:1,2@h:2,3@h:3", "ClientPort": 1, "BrokerPort": 2, "ControllerPort": 3,
		"BrokerUser": clusterBrokerUser, "BrokerPassword": "bp", "ControllerUser": clusterControllerUser, "ControllerPassword": "cp",
		"AdminUser": kafkaacl.Admin, "KeyStore": "/k.pem", "DataDir": "/d",
	})
	if err != nil {
		t.Fatal(err)
	}
	props := map[string]string{}
	for _, line := range strings.Split(b.String(), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(line, "#") {
			props[k] = v
		}
	}
	for k, want := range map[string]string{
		"node.id":                                      "2",
		"listener.security.protocol.map":               "CLIENT:SASL_SSL,BROKER:SASL_PLAINTEXT,CONTROLLER:SASL_PLAINTEXT",
		"sasl.mechanism.inter.broker.protocol":         "SCRAM-SHA-512",
		"listener.name.client.sasl.enabled.mechanisms": "SCRAM-SHA-512",
		"listener.name.broker.sasl.enabled.mechanisms": "SCRAM-SHA-512",
		"authorizer.class.name":                        "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
		"allow.everyone.if.no.acl.found":               "false",
		"super.users":                                  "User:pangate-broker;User:pangate-controller;User:pangate-admin",
		"default.replication.factor":                   "3",
		"min.insync.replicas":                          "2",
		"unclean.leader.election.enable":               "false",
		"auto.create.topics.enable":                    "false",
		"listener.name.client.ssl.keystore.location":   "/k.pem",
	} {
		if props[k] != want {
			t.Errorf("%s = %q, want %q", k, props[k], want)
		}
	}
}

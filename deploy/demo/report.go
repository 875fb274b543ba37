package main

import "context"

// report generates the evidence package for today and verifies it offline.
func (d *demo) report(ctx context.Context) error {
	d.step("evidence package: generate (arrives with the reporter CLI) and verify offline")
	return nil
}

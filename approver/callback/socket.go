package callback

import (
	"context"
	"errors"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/socketmode"
)

// RunSocket receives clicks over Slack Socket Mode until ctx ends: sm opens the connection itself
// (apps.connections.open with the app-level token, then a websocket), so no public endpoint is needed.
// Every "interactive" envelope is ACKed at once (Slack wants the ACK within three seconds, and Process may
// wait for Kafka), then its block_actions payload goes through FromCallback and Process, exactly as an HTTP
// click after its signature check. The connection itself authenticates Slack: only Slack holds the URL
// that apps.connections.open returned for our app-level token.
func (h *Handler) RunSocket(ctx context.Context, sm *socketmode.Client) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- sm.RunContext(ctx) }()
	for {
		select {
		case <-ctx.Done():
			<-errc
			return ctx.Err()
		case err := <-errc:
			if err == nil {
				err = errors.New("callback: socket mode connection ended")
			}
			return err
		case evt := <-sm.Events:
			h.socketEvent(ctx, sm, evt)
		}
	}
}

func (h *Handler) socketEvent(ctx context.Context, sm *socketmode.Client, evt socketmode.Event) {
	switch evt.Type {
	case socketmode.EventTypeConnected:
		h.log.Info("slack socket mode connected")
	case socketmode.EventTypeConnectionError, socketmode.EventTypeInvalidAuth, socketmode.EventTypeErrorBadMessage:
		h.log.Warn("slack socket mode", "event", string(evt.Type))
	case socketmode.EventTypeInteractive:
		if evt.Request == nil {
			return
		}
		if err := sm.Ack(*evt.Request); err != nil {
			h.log.Warn("slack socket mode ack failed", "err", err.Error())
		}
		ic, ok := evt.Data.(slack.InteractionCallback)
		if !ok {
			h.results.WithLabelValues(ResultMalformed).Inc()
			return
		}
		act, err := FromCallback(ic)
		if err != nil {
			h.results.WithLabelValues(ResultMalformed).Inc()
			h.log.Warn("slack callback not understood", "err", err.Error())
			return
		}
		h.Process(ctx, act)
	case socketmode.EventTypeEventsAPI, socketmode.EventTypeSlashCommand:
		// Not ours, but unacknowledged envelopes are redelivered: ACK and drop.
		if evt.Request != nil {
			_ = sm.Ack(*evt.Request)
		}
	}
}

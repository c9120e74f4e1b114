package bridge

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/pidicon/pidicon-mqtt/device/picture"
	"github.com/pidicon/pidicon-mqtt/internal/logkey"
	"github.com/pidicon/pidicon-mqtt/topic"
)

// imageQueue bounds the image uploads and fetches waiting.
const imageQueue = 8

// checkImageRequest checks an image request: the name, and the payload's
// form (an image's bytes, {"url":...}, or empty to delete).
func (b *Bridge) checkImageRequest(c command, name string, payload []byte) (command, error) {
	if b.opts.Images == nil {
		return c, errors.New("images are not kept (no image store)")
	}
	if err := picture.CheckName(name); err != nil {
		return c, err
	}
	c.image = name
	if t := bytes.TrimSpace(payload); len(t) > 0 && t[0] == '{' {
		var req struct {
			URL string `json:"url"`
		}
		dec := json.NewDecoder(bytes.NewReader(t))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil || req.URL == "" {
			return c, errors.New(`an image request is the image file's bytes, {"url":"http://…"}, or empty to delete`)
		}
	}
	return c, nil
}

// submitImage hands an image request to the image goroutine; a full queue
// refuses it.
func (b *Bridge) submitImage(c command) {
	select {
	case b.imageJobs <- c:
	default:
		err := errors.New("too many image requests waiting; this one was dropped")
		b.reject(topic.Parsed{Kind: c.kind}, c.topic, c.payload, err)
		c.done(err)
	}
}

// runImages stores, fetches and deletes images, one at a time, off Run's
// goroutine: a fetch takes up to picture.FetchTimeout and a large image
// a while to check. After each change bridge/info is published again.
func (b *Bridge) runImages(ctx context.Context) {
	fetcher := picture.Fetcher{}
	for {
		var c command
		select {
		case <-ctx.Done():
			return
		case c = <-b.imageJobs:
		}
		err := b.doImage(ctx, fetcher, c)
		if err != nil {
			b.reject(topic.Parsed{Kind: c.kind}, c.topic, c.payload, err)
			c.done(err)
			continue
		}
		b.retain(b.topics.Bridge(topic.BridgeInfo), b.info())
		c.done(nil)
	}
}

func (b *Bridge) doImage(ctx context.Context, fetcher picture.Fetcher, c command) error {
	store := b.opts.Images
	data := bytes.TrimSpace(c.payload)
	switch {
	case len(data) == 0:
		if err := store.Delete(c.image); err != nil {
			return fmt.Errorf("delete image %s: %w", c.image, err)
		}
		b.log.Info("image deleted", logkey.Name, c.image)
		return nil
	case data[0] == '{':
		var req struct {
			URL string `json:"url"`
		}
		_ = json.Unmarshal(data, &req) // checked before
		fctx, cancel := context.WithTimeout(ctx, picture.FetchTimeout)
		defer cancel()
		fetched, err := fetcher.Fetch(fctx, req.URL)
		if err != nil {
			return fmt.Errorf("image %s not stored: %w", c.image, err)
		}
		data = fetched
	default:
		data = c.payload // the file's bytes, as sent
	}
	start := time.Now()
	info, err := store.Put(c.image, data)
	if err != nil {
		return fmt.Errorf("image %s not stored: %w", c.image, err)
	}
	b.log.Info("image stored", logkey.Name, info.Name, logkey.Width, info.Width, logkey.Height, info.Height,
		logkey.Frames, info.Frames, logkey.Took, time.Since(start).Round(time.Millisecond))
	return nil
}

package a2a_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	sdk "github.com/a2aproject/a2a-go/a2a"
	"github.com/a2aproject/a2a-go/a2asrv"
	"github.com/a2aproject/a2a-go/a2asrv/eventqueue"

	"github.com/choreohq/choreo/dispatch"
	"github.com/choreohq/choreo/dispatch/a2a"
	"github.com/choreohq/choreo/engine"
)

// stockAgent completes every task at once with one data artifact.
type stockAgent struct{}

func (stockAgent) Execute(ctx context.Context, rc *a2asrv.RequestContext, q eventqueue.Queue) error {
	return q.Write(ctx, &sdk.Task{
		ID:        rc.TaskID,
		ContextID: rc.ContextID,
		Status:    sdk.TaskStatus{State: sdk.TaskStateCompleted},
		Artifacts: []*sdk.Artifact{{ID: "r", Parts: sdk.ContentParts{sdk.DataPart{Data: map[string]any{"reserved": true}}}}},
	})
}

func (stockAgent) Cancel(ctx context.Context, rc *a2asrv.RequestContext, q eventqueue.Queue) error {
	return nil
}

func Example() {
	// An A2A agent with its card.
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	defer srv.Close()
	mux.Handle("/rpc", a2asrv.NewJSONRPCHandler(a2asrv.NewHandler(stockAgent{})))
	mux.Handle(a2asrv.WellKnownAgentCardPath, a2asrv.NewStaticAgentCardHandler(&sdk.AgentCard{
		Name:   "Stock",
		URL:    srv.URL + "/rpc",
		Skills: []sdk.AgentSkill{{ID: "reserve_stock", Name: "Reserve stock"}},
	}))

	tr, err := a2a.New(a2a.Config{})
	if err != nil {
		panic(err)
	}
	defer tr.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	// What the registry learns from the card.
	p, err := tr.ResolveCard(ctx, srv.URL)
	if err != nil {
		panic(err)
	}
	fmt.Println(p.Capabilities, p.Endpoint == srv.URL+"/rpc")

	// What the dispatcher does with an action.
	res, err := tr.Deliver(ctx, &dispatch.Delivery{
		Action:  &engine.Action{ID: "01924f8e-7c1a-8b2d-9e3f-4a5b6c7d8e9f", Action: "reserve_stock", CorrelationID: "order-7"},
		Agent:   p,
		Attempt: 1,
	})
	if err != nil {
		panic(err)
	}
	fmt.Println(res.Events[0].Type)
	// Output:
	// [reserve_stock] true
	// reserve_stock.completed
}

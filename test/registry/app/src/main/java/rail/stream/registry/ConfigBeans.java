package rail.stream.registry;

import io.apicurio.common.apps.config.DynamicConfigPropertyList;
import java.util.ArrayList;
import javax.enterprise.context.ApplicationScoped;
import javax.enterprise.inject.Produces;

/*
 * The bean that Apicurio's config-index build step would make (its
 * deployment module is not on Maven Central): no dynamic properties.
 */
@ApplicationScoped
public class ConfigBeans {
    @Produces
    @ApplicationScoped
    DynamicConfigPropertyList properties() {
        return new DynamicConfigPropertyList(new ArrayList<>());
    }
}
